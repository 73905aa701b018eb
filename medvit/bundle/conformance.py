"""Check a bundle against the MONAI bundle specification and medvit's conventions.

Used by the test suite (every folder in ``bundles/`` is checked with no per-bundle test
code) and by ``medvit bundles --check``. Each check returns a list of problems; an empty
list means the bundle conforms. The checks use MONAI's own bundle tools:
``verify_metadata`` against the offline schema copy, ``ConfigParser`` for every config,
and ``verify_net_in_out`` for networks that take one image tensor.

A bundle may shrink its network for these checks with ``configs/test_overrides.json``
(config id → value, e.g. ``{"network_def#feature_size": 12}``).
"""

from __future__ import annotations

import json
from pathlib import Path

REQUIRED_FILES = (
    "LICENSE",
    "configs/metadata.json",
    "configs/inference.json",
    "configs/evaluate.json",
    "configs/logging.conf",
    "docs/README.md",
)
MODEL_ZOO_KEYS = ("bundle_root", "device", "network_def", "inferer", "dataset_dir", "output_dir", "load_pretrain", "ckpt_path")
OVERRIDES_FILE = "configs/test_overrides.json"


def check_files(bundle: Path) -> list[str]:
    problems = [f"missing {name}" for name in REQUIRED_FILES if not (bundle / name).is_file()]
    if not (bundle / "models").is_dir():
        problems.append("missing models/ folder")
    return problems


def check_metadata(bundle: Path, schema: Path) -> list[str]:
    """``monai.bundle.verify_metadata`` against the schema copy at ``schema`` (no download)."""
    import warnings

    from monai.bundle import verify_metadata

    try:
        with warnings.catch_warnings():
            # the schema is our own checked-in copy, so there is no published hash to check it against
            warnings.filterwarnings("ignore", message="No hash value provided")
            verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(schema))
    except Exception as err:
        return [f"metadata.json does not validate: {err}"]
    return []


def config_files(bundle: Path) -> list[Path]:
    """Every config of the bundle except the metadata and the test overrides."""
    skip = {"metadata.json", Path(OVERRIDES_FILE).name}
    return sorted(
        p for p in (bundle / "configs").iterdir() if p.suffix in (".json", ".yaml", ".yml") and p.name not in skip
    )


def shrink_overrides(bundle: Path) -> dict:
    path = bundle / OVERRIDES_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


# Configs that are fragments, run on top of another as MONAI bundles do
# (``--config_file "['configs/inference.json', 'configs/evaluate.json']"``).
BASE_CONFIG = {"evaluate.json": "inference.json", "multi_gpu_train.json": "train.json",
               "multi_gpu_pretrain.json": "pretrain.json"}


def load_parser(bundle: Path, config: Path, overrides: dict | None = None):
    """A ConfigParser over ``config`` (on top of its base config, if it is a fragment) with the
    bundle's metadata and ``bundle_root`` set; overrides apply where their key exists."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    base = BASE_CONFIG.get(config.name)
    files = [str(config.parent / base), str(config)] if base and (config.parent / base).is_file() else str(config)
    parser.read_config(files)
    parser.read_meta(str(bundle / "configs" / "metadata.json"))
    parser["bundle_root"] = str(bundle)
    for key, value in (overrides or {}).items():
        if key.split("#", 1)[0] in parser.config:
            parser[key] = value
    return parser


def check_configs(bundle: Path) -> list[str]:
    """Every config parses; inference.json has the model-zoo keys and ``network_def`` builds."""
    problems = []
    overrides = shrink_overrides(bundle)
    for config in config_files(bundle):
        try:
            parser = load_parser(bundle, config, overrides)
            parser.parse(reset=True)
        except Exception as err:
            problems.append(f"{config.name} does not parse: {err}")
            continue
        if config.name == "inference.json":
            missing = [k for k in MODEL_ZOO_KEYS if k not in parser.config]
            if missing:
                problems.append(f"inference.json lacks the model-zoo keys {missing}")
            elif "network_def" in parser.config:
                try:
                    parser.get_parsed_content("network_def")
                except Exception as err:
                    problems.append(f"inference.json network_def does not instantiate: {err}")
    return problems


def takes_one_image(bundle: Path) -> bool:
    """Whether the metadata declares a single input of type "image" (verify_net_in_out applies)."""
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    inputs = meta.get("network_data_format", {}).get("inputs", {})
    return len(inputs) == 1 and next(iter(inputs.values())).get("type") == "image"


def check_net_in_out(bundle: Path) -> list[str]:
    """``monai.bundle.verify_net_in_out`` with random weights and the metadata's shapes."""
    from monai.bundle import verify_net_in_out

    if not takes_one_image(bundle):
        return []
    overrides = {k: v for k, v in shrink_overrides(bundle).items()}
    overrides["bundle_root"] = str(bundle)
    try:
        verify_net_in_out(
            net_id="network_def",
            meta_file=str(bundle / "configs" / "metadata.json"),
            config_file=str(bundle / "configs" / "inference.json"),
            device="cpu",
            **overrides,
        )
    except Exception as err:
        return [f"verify_net_in_out fails: {err}"]
    return []


def check_bundle(bundle: Path, schema: Path) -> list[str]:
    """All checks; later ones run only once the required files are there."""
    problems = check_files(bundle)
    if any("configs/" in p for p in problems):
        return problems
    problems += check_metadata(bundle, schema)
    problems += check_configs(bundle)
    if not problems:
        problems += check_net_in_out(bundle)
    return problems
