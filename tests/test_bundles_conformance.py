"""Every folder in bundles/ conforms (no per-bundle test code), and the checker itself works."""

import json
import shutil
from pathlib import Path

import pytest

from medvit.bundle.conformance import check_bundle, check_configs, check_files, check_metadata, check_net_in_out
from medvit.bundle.registry import SCHEMA_NAME, bundle_dirs, bundles_root

SCHEMA = bundles_root() / SCHEMA_NAME


@pytest.mark.parametrize("bundle", bundle_dirs(), ids=lambda p: p.name)
def test_bundle_conforms(bundle):
    assert check_bundle(bundle, SCHEMA) == []


def test_verify_metadata_command_passes_offline(tmp_path):
    """The documented command: ``python -m monai.bundle verify_metadata`` with the schema copy."""
    import subprocess
    import sys

    bundle = _write_bundle(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file",
         str(bundle / "configs" / "metadata.json"), "--filepath", str(SCHEMA)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "metadata is verified with no error" in result.stdout + result.stderr


# A minimal bundle in medvit's layout, to show each check passes it and catches faults.
METADATA = {
    "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json",
    "version": "0.1.0",
    "changelog": {"0.1.0": "fixture"},
    "monai_version": "1.6.1",
    "pytorch_version": "2.13.0",
    "numpy_version": "2.4.6",
    "required_packages_version": {},
    "task": "fixture segmentation",
    "description": "a tiny 2D U-Net used to test the conformance checks",
    "authors": "medvit",
    "copyright": "medvit",
    "network_data_format": {
        "inputs": {"image": {"type": "image", "format": "magnitude", "modality": "CR", "num_channels": 1,
                             "spatial_shape": [32, 32], "dtype": "float32", "value_range": [0, 1],
                             "is_patch_data": False, "channel_def": {"0": "image"}}},
        "outputs": {"pred": {"type": "image", "format": "segmentation", "num_channels": 2,
                             "spatial_shape": [32, 32], "dtype": "float32", "value_range": [],
                             "is_patch_data": False, "channel_def": {"0": "background", "1": "object"}}},
    },
}
INFERENCE = {
    "bundle_root": ".",
    "device": "$torch.device('cpu')",
    "dataset_dir": "/data",
    "output_dir": "$@bundle_root + '/eval'",
    "load_pretrain": False,
    "ckpt_path": "$@bundle_root + '/models/model.pt'",
    "network_def": {"_target_": "monai.networks.nets.UNet", "spatial_dims": 2, "in_channels": 1,
                    "out_channels": 2, "channels": [4, 8], "strides": [2]},
    "network": "$@network_def.to(@device)",
    "preprocessing": {"_target_": "Compose", "transforms": [{"_target_": "LoadImaged", "keys": "image"}]},
    "inferer": {"_target_": "SimpleInferer"},
    "postprocessing": {"_target_": "Compose", "transforms": [{"_target_": "Activationsd", "keys": "pred", "softmax": True}]},
    "predictor": {"_target_": "medvit.bundle.workflow.CasePredictor", "network": "@network",
                  "preprocessing": "@preprocessing", "inferer": "@inferer", "postprocessing": "@postprocessing"},
    "cohort": {"_target_": "medvit.bundle.workflow.Cohort", "inputs": [], "output_csv": "$@output_dir + '/table.csv'"},
    "run": ["$@cohort.run(@predictor)"],
}


def _write_bundle(root: Path) -> Path:
    bundle = root / "fixture_bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "docs").mkdir()
    (bundle / "models").mkdir()
    (bundle / "LICENSE").write_text("Apache-2.0")
    (bundle / "docs" / "README.md").write_text("# fixture\nNot for clinical use.")
    (bundle / "configs" / "metadata.json").write_text(json.dumps(METADATA))
    (bundle / "configs" / "inference.json").write_text(json.dumps(INFERENCE))
    (bundle / "configs" / "evaluate.json").write_text(json.dumps({"metric": {"_target_": "DiceMetric"}}))
    (bundle / "configs" / "logging.conf").write_text("[loggers]\nkeys=root\n")
    return bundle


def test_fixture_bundle_conforms(tmp_path):
    assert check_bundle(_write_bundle(tmp_path), SCHEMA) == []


def test_missing_files_are_reported(tmp_path):
    bundle = _write_bundle(tmp_path)
    (bundle / "LICENSE").unlink()
    shutil.rmtree(bundle / "models")
    assert check_files(bundle) == ["missing LICENSE", "missing models/ folder"]


def test_invalid_metadata_is_reported(tmp_path):
    bundle = _write_bundle(tmp_path)
    meta = dict(METADATA)
    del meta["task"]
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))
    problems = check_metadata(bundle, SCHEMA)
    assert len(problems) == 1 and "'task' is a required property" in problems[0]


def test_config_that_cannot_instantiate_is_reported(tmp_path):
    bundle = _write_bundle(tmp_path)
    broken = dict(INFERENCE, network_def={"_target_": "monai.networks.nets.NoSuchNet"})
    (bundle / "configs" / "inference.json").write_text(json.dumps(broken))
    problems = check_configs(bundle)
    assert len(problems) == 1 and "network_def does not instantiate" in problems[0]


def test_missing_model_zoo_keys_are_reported(tmp_path):
    bundle = _write_bundle(tmp_path)
    (bundle / "configs" / "inference.json").write_text(json.dumps({k: v for k, v in INFERENCE.items() if k != "inferer"}))
    assert check_configs(bundle) == ["inference.json: run does not use ['inferer']: what runs must be the config's components",
                                     "inference.json lacks the model-zoo keys ['inferer']"]


def test_a_run_that_lists_arguments_or_bypasses_the_components_is_reported(tmp_path):
    """What runs must be the config's components, handed over by reference (issue 15)."""
    bundle = _write_bundle(tmp_path)
    config = dict(INFERENCE, run=["$medvit.thorax.classify.run_cxr_cohort(@dataset_dir, @output_dir, network=@network_def, "
                                  "saliency=True)"])
    (bundle / "configs" / "inference.json").write_text(json.dumps(config))
    problems = check_configs(bundle)
    assert "inference.json: run passes keyword arguments (network, saliency): give them as config keys of the components it runs" in problems
    assert "inference.json: run does not use ['preprocessing', 'inferer', 'postprocessing']: what runs must be the config's components" in problems
    config = dict(INFERENCE, run=["$@cohort.run(@predictor, 'predictor')", "$print(@no_such_key)"])
    (bundle / "configs" / "inference.json").write_text(json.dumps(config))
    assert check_configs(bundle) == ["inference.json: run passes the literal 'predictor': make it a config key",
                                     "inference.json: run refers to @no_such_key, which the config does not define"]


def test_network_disagreeing_with_metadata_is_reported(tmp_path):
    bundle = _write_bundle(tmp_path)
    (bundle / "configs" / "test_overrides.json").write_text(json.dumps({"network_def#out_channels": 3}))
    problems = check_net_in_out(bundle)
    assert len(problems) == 1 and "output channel number" in problems[0]
