"""Checkpoints carry their architecture (issue 16, item 2): what medvit's training writes holds the
``network_args`` it built the network from, and inference with ``--ckpt_path`` alone builds that
network; an explicit ``--network_def#...`` override still decides, and a mismatch is one line."""

import json

import pytest
import torch

from medvit.batch.worker import unwrapped_errors
from medvit.bundle.run import bundle_parser, run_config
from medvit.cmrxrecon import write_cmrx_tree
from medvit.errors import MedvitError
from medvit.nets.checkpoints import (
    NETWORK_ARGS_KEY,
    NetworkArgs,
    checkpoint_network_args,
    read_network_args,
    read_state_dict,
)
from tests.bundle_checks import bundle_dir

# (bundle, the training config, the overrides that make its network small, the config that reads
# the checkpoint and the id of the checkpoint there)
CHAINS = [
    ("brats_swin_unetr_segmentation", "train.json", {"network_args#feature_size": 12, "legacy_merging": False},
     "inference.json", "ckpt_path"),
    ("cmrxrecon_varnet_reconstruction", "train.json",
     {"network_args#num_cascades": 2, "network_args#chans": 4, "network_args#pools": 2,
      "network_args#sens_chans": 4, "network_args#sens_pools": 2}, "inference.json", "ckpt_path"),
    ("mae_thorax_classification", "train.json", {"network_args#name": "vit_toy_patch16"}, "inference.json",
     "ckpt_path"),
    ("uni4eye_ophthalmic_mim", "train.json",
     {"network_args#hidden_size": 48, "network_args#num_layers": 1, "network_args#num_heads": 3,
      "network_args#img_size_3d": [32, 32, 16]}, "inference.json", "ckpt_path"),
    ("pvbm_vessel_biomarkers", "train.json", {"network_args#channels": [8, 16, 32], "network_args#strides": [2, 2]},
     "inference.json", "ckpt_path"),
    # pre-training → fine-tuning: train.json builds the encoder the pre-training checkpoint holds
    ("mae_thorax_classification", "pretrain.json", {"network_args#name": "vit_toy_patch16"}, "train.json",
     "ckpt_path"),
    ("uni4eye_ophthalmic_mim", "pretrain.json",
     {"network_args#hidden_size": 48, "network_args#num_layers": 1, "network_args#num_heads": 3},
     "train.json", "pretrained_checkpoint"),
]


def saver_ids(config: dict, path: str = "") -> list[str]:
    """The config ids of the CheckpointSavers in a raw config."""
    if isinstance(config, dict):
        if config.get("_target_") == "CheckpointSaver":
            return [path]
        return [i for k, v in config.items() for i in saver_ids(v, f"{path}#{k}".lstrip("#"))]
    if isinstance(config, list):
        return [i for n, v in enumerate(config) for i in saver_ids(v, f"{path}#{n}")]
    return []


def write_training_checkpoint(bundle: str, config: str, path, **overrides):
    """What the bundle's training config (``train.json`` / ``pretrain.json``) with ``overrides``
    saves, at random weights: its network's state and its CheckpointSaver's ``network_args``
    (ignite's Checkpoint writes ``{name: entry.state_dict()}`` for a save_dict of two entries)."""
    parser = bundle_parser(bundle_dir(bundle), config, **overrides)
    (saver,) = saver_ids(parser.get())
    stored = parser.get_parsed_content(f"{saver}#save_dict#{NETWORK_ARGS_KEY}")
    network = parser.get_parsed_content("network_def")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict(), NETWORK_ARGS_KEY: stored.state_dict()}, path)
    return network


def shapes(network) -> dict:
    return {k: tuple(v.shape) for k, v in network.state_dict().items()}


@pytest.mark.parametrize("bundle, training, small, reader, checkpoint_id", CHAINS,
                         ids=[f"{c[0]}-{c[1]}" for c in CHAINS])
def test_training_stores_the_network_args_that_inference_builds_from(bundle, training, small, reader, checkpoint_id,
                                                                       tmp_path):
    parser = bundle_parser(bundle_dir(bundle), training, **small)
    (saver,) = saver_ids(parser.get())
    assert set(parser.get(f"{saver}#save_dict")) == {"model", NETWORK_ARGS_KEY}
    path = tmp_path / "model.pt"
    trained = write_training_checkpoint(bundle, training, path, **small)

    # the reading config, with no override of the network: the checkpoint's arguments build it
    overrides = {checkpoint_id: str(path), "load_pretrain": True}
    built = bundle_parser(bundle_dir(bundle), reader, **overrides).get_parsed_content("network_def")
    body = {k: s for k, s in shapes(built).items() if not k.startswith(("head.", "fc_norm."))}
    assert body.items() <= {k.removeprefix("encoder."): s for k, s in shapes(trained).items()}.items()
    default = bundle_parser(bundle_dir(bundle), reader).get_parsed_content("network_def")
    assert shapes(default) != shapes(built)  # the config's defaults alone would not fit
    if reader == "inference.json":
        network = bundle_parser(bundle_dir(bundle), reader, **overrides, device="cpu").get_parsed_content("network")
        assert shapes(network) == shapes(trained)


def test_a_network_def_override_still_decides_and_a_mismatch_is_one_line(tmp_path):
    bundle, _, small, _, _ = CHAINS[1]
    parser = bundle_parser(bundle_dir(bundle), "train.json", **small)
    trained = parser.get_parsed_content("network_def")
    path = tmp_path / "model.pt"
    torch.save({"model": trained.state_dict(), NETWORK_ARGS_KEY: NetworkArgs(parser.get("network_args")).state_dict()},
               path)
    overridden = bundle_parser(bundle_dir(bundle), "inference.json", ckpt_path=str(path), device="cpu",
                               **{"network_def#chans": 6})
    wider = bundle_parser(bundle_dir(bundle), "inference.json", **small, **{"network_def#chans": 6})
    assert shapes(overridden.get_parsed_content("network_def")) == shapes(wider.get_parsed_content("network_def"))
    with pytest.raises(MedvitError) as err, unwrapped_errors():  # as run_config and the bundle's command line say it
        overridden.get_parsed_content("network")
    message = str(err.value)
    assert "\n" not in message and "the checkpoint does not fit VarNet" in message
    assert '(it was trained with network_args {"chans": 4, ' in message


def test_published_checkpoints_without_stored_arguments_keep_the_configs():
    """A plain state dict (published weights), no file, or an unreadable one: the config's network_args."""
    args = {"feature_size": 48, "legacy_merging": True}
    assert checkpoint_network_args(None, args) == args
    assert checkpoint_network_args("/no/such/model.pt", args) == args
    assert read_network_args(None) is None


def test_network_args_round_trip_and_refuse_what_is_not_json(tmp_path):
    torch.save({"model": {"w": torch.ones(2)}, NETWORK_ARGS_KEY: NetworkArgs({"chans": 4, "sizes": [1, 2]}).state_dict()},
               tmp_path / "m.pt")
    assert read_network_args(tmp_path / "m.pt") == {"chans": 4, "sizes": [1, 2]}
    assert set(read_state_dict(tmp_path / "m.pt")) == {"w"}  # the weights load as before
    assert checkpoint_network_args(tmp_path / "m.pt", {"chans": 18, "pools": 4}) == {"chans": 4, "pools": 4}
    with pytest.raises(MedvitError, match="JSON values"):
        NetworkArgs({"downsample": torch.nn.Identity})


def test_varnet_trained_by_train_json_runs_with_ckpt_path_alone(tmp_path):
    """The README's CMRxRecon chain on the demo's kind of checkpoint: train.json with a small
    network writes models/model.pt; ``python -m monai.bundle run ... --ckpt_path`` with no
    network_args reconstructs with it."""
    bundle, _, small, _, _ = CHAINS[1]
    sizes = {"num_ky": 32, "num_kx": 24, "num_coils": 2, "num_slices": 1, "num_frames": 1}
    write_cmrx_tree(tmp_path / "training", cases=2, accelerations=(), seed=1, **sizes)
    write_cmrx_tree(tmp_path / "ChallengeData", cases=1, accelerations=(8,), seed=9, **sizes)
    run_config(bundle_dir(bundle), "train.json", bundle_root=str(tmp_path / "trained"),
               dataset_dir=str(tmp_path / "training"), max_epochs=1, num_workers=0, val_accelerations=[8], **small)
    checkpoint = tmp_path / "trained" / "models" / "model.pt"
    assert read_network_args(checkpoint) == {**bundle_parser(bundle_dir(bundle), "train.json").get("network_args"),
                                             **{k.split("#")[1]: v for k, v in small.items()}}
    result = run_cli_bundle(bundle, "--dataset_dir", str(tmp_path / "ChallengeData" / "MultiCoil"),
                            "--output_dir", str(tmp_path / "Submission"), "--ckpt_path", str(checkpoint))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 ok, 0 failed" in result.stdout
    provenance = json.loads((tmp_path / "Submission" / "reconstructions.provenance.json").read_text())
    assert provenance["provenance"]["parameters"] == sum(p.numel() for p in read_state_dict(checkpoint).values())


def run_cli_bundle(bundle: str, *args: str):
    """``python -m monai.bundle run --config_file configs/inference.json ...`` in the bundle's folder."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json", *args],
                          cwd=bundle_dir(bundle), capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

