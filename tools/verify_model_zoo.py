"""Run Project-MONAI/model-zoo's own CI checks (``ci/verify_bundle.py``) on medvit's bundles, offline.

    git clone https://github.com/Project-MONAI/model-zoo /path/to/model-zoo
    python tools/verify_model_zoo.py /path/to/model-zoo [BUNDLE ...]

For each bundle (default: all of ``bundles/``) this calls model-zoo's functions, unchanged:
``verify(bundle, models_path, mode="regular")`` (files, metadata against the schema),
``verify_data_shape`` (``verify_net_in_out`` with its default n=1) and ``verify_torchscript``
(``ckpt_export``) for every network that takes one image tensor (the k-space VarNet takes
k-space and a mask: model-zoo would list it in ``exclude_verify_shape_list`` and
``exclude_verify_torchscript_list``, and so does this script). What model-zoo's CI does
beside them is done here the offline way, in a temporary copy of each bundle:

- ``large_files.yml`` lists published checkpoints to download: no download here (no internet);
  ``models/model.pt`` is made instead by model-zoo's own ``_produce_fake_weights`` (random
  weights of the config's ``network_def``), as its CI does for the TorchScript check;
- the metadata schema is medvit's offline copy (``bundles/metadata-schema.json``) placed where
  ``verify_metadata_format`` reads it (``eval/schema.json``).

Exit status 1 when any check fails; each check prints "ok" or its error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# As model-zoo's ci/bundle_custom_data.py lists its own bundles whose networks do not compile by
# TorchScript scripting (swin_unetr_btcv_segmentation, ...): MONAI's SwinUNETR uses
# torch.utils.checkpoint, whose **kwargs TorchScript refuses. Traced export is checked instead.
EXCLUDE_VERIFY_TORCHSCRIPT = {"brats_swin_unetr_segmentation": "MONAI's SwinUNETR does not script"}
sys.path.insert(0, str(REPO))


def traced_export(bundle: Path) -> None:
    """MONAI's ``ckpt_export`` with ``use_trace`` on the metadata's input shape (n=1), then load it."""
    import torch
    from monai.bundle import ckpt_export

    from medvit.bundle.conformance import input_shape

    shape = input_shape(bundle)
    ckpt_export(net_id="network_def", filepath=str(bundle / "models" / "traced.ts"), ckpt_file=str(bundle / "models" / "model.pt"),
                meta_file=str(bundle / "configs" / "metadata.json"), config_file=str(bundle / "configs" / "inference.json"),
                bundle_root=str(bundle), use_trace=True, input_shape=shape)
    torch.jit.load(str(bundle / "models" / "traced.ts"))


def verify_one(verify_bundle, source: Path, models: Path) -> list[tuple[str, str]]:
    """model-zoo's checks on a copy of ``source`` under ``models``; [(check, "ok" or error)]."""
    name = source.name
    bundle = models / name
    shutil.copytree(source, bundle, ignore=shutil.ignore_patterns("eval", "*.pt", "*.ts"))
    (bundle / "eval").mkdir(exist_ok=True)
    shutil.copy(REPO / "bundles" / "metadata-schema.json", bundle / "eval" / "schema.json")
    results = []

    def check(label, fn, *args):
        try:
            fn(*args)
            results.append((label, "ok"))
        except Exception as err:  # noqa: BLE001 - report every check, go on with the next
            results.append((label, f"FAILED: {type(err).__name__}: {err}"))
            traceback.print_exc()

    # A bundle whose network_def depends on a checkpoint being there (PVBM: its vessel U-Net with
    # models/model.pt, the classical segmentation without) must resolve to the same network
    # while model-zoo's functions make model.pt and load it back: it is there from the start.
    (bundle / "models" / "model.pt").touch()
    cwd = os.getcwd()
    os.chdir(bundle)  # bundle_root "." is the bundle; _produce_fake_weights writes model.pt here
    try:
        check("fake weights (model-zoo _produce_fake_weights)", verify_bundle._produce_fake_weights,
              str(bundle / "configs" / "inference.json"), str(bundle / "configs" / "metadata.json"), name, "cpu")
        os.replace(bundle / "model.pt", bundle / "models" / "model.pt")
    finally:
        os.chdir(cwd)
    check("verify(mode='regular')", verify_bundle.verify, name, str(models), "regular")
    from medvit.bundle.conformance import takes_one_image

    if takes_one_image(bundle):
        check("verify_data_shape (n=1)", verify_bundle.verify_data_shape, str(bundle), "network_def",
              "configs/inference.json")
        if name in EXCLUDE_VERIFY_TORCHSCRIPT:
            results.append(("verify_torchscript", f"excluded as model-zoo excludes its Swin UNETR bundles "
                                                  f"({EXCLUDE_VERIFY_TORCHSCRIPT[name]})"))
            check("ckpt_export by tracing (instead)", traced_export, bundle)
        else:
            check("verify_torchscript (ckpt_export)", verify_bundle.verify_torchscript, str(bundle), "network_def",
                  "configs/inference.json")
    else:
        results.append(("verify_data_shape, verify_torchscript", "not applicable: the network takes more than one image tensor"))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_zoo", type=Path, help="a work tree of Project-MONAI/model-zoo")
    parser.add_argument("bundles", nargs="*", help="bundle names (default: every bundle)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.model_zoo / "ci"))
    import verify_bundle  # model-zoo's ci/verify_bundle.py

    verify_bundle.download_large_files = lambda bundle_path, large_file_name: print(
        f"  {large_file_name}: not downloaded (offline); models/model.pt made from the config instead")
    names = args.bundles or sorted(p.name for p in (REPO / "bundles").iterdir() if (p / "configs").is_dir())
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"== {name}", flush=True)
            for label, outcome in verify_one(verify_bundle, REPO / "bundles" / name, Path(tmp)):
                print(f"   {label}: {outcome}", flush=True)
                failed += outcome.startswith("FAILED")
    print(f"{len(names)} bundle(s), {failed} failed check(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
