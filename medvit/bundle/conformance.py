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

import ast
import json
import re
import tempfile
import warnings
from pathlib import Path

import torch
from monai.bundle import ConfigParser, ckpt_export, verify_metadata, verify_net_in_out
from monai.bundle.scripts import _get_fake_spatial_shape

from medvit.bundle.run import bundle_parser

REQUIRED_FILES = (
    "LICENSE",
    "configs/metadata.json",
    "configs/inference.json",
    "configs/evaluate.json",
    "configs/logging.conf",
    "docs/README.md",
)
MODEL_ZOO_KEYS = ("bundle_root", "device", "network_def", "network", "preprocessing", "inferer", "postprocessing",
                  "dataset_dir", "output_dir", "load_pretrain", "ckpt_path")
# What runs, as MONAI Label's BundleInferTask and MONAI Deploy's bundle operator read it.
PIPELINE_KEYS = ("network_def", "preprocessing", "inferer", "postprocessing")
RUN_CONFIGS = ("inference.json", "evaluate.json")
REFERENCE = re.compile(r"@([A-Za-z_]\w*(?:(?:#|::)\w+)*)")  # MONAI writes nested ids a#b or a::b
OVERRIDES_FILE = "configs/test_overrides.json"


def check_files(bundle: Path) -> list[str]:
    problems = [f"missing {name}" for name in REQUIRED_FILES if not (bundle / name).is_file()]
    if not (bundle / "models").is_dir():
        problems.append("missing models/ folder")
    return problems


def check_metadata(bundle: Path, schema: Path) -> list[str]:
    """``monai.bundle.verify_metadata`` against the schema copy at ``schema`` (no download)."""
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


def load_parser(bundle: Path, config: Path, overrides: dict | None = None):
    """A ConfigParser over ``config`` (on top of its base config, if it is a fragment) with the
    bundle's metadata and ``bundle_root`` set; overrides apply where their key exists."""
    parser = bundle_parser(bundle, config.name)
    for key, value in (overrides or {}).items():
        if key.split("#", 1)[0] in parser.config:
            parser[key] = value
    return parser


def check_configs(bundle: Path) -> list[str]:
    """Every config parses; inference.json has the model-zoo keys, ``network_def`` builds, and
    ``run`` (of inference.json and evaluate.json) is composed of the config's components."""
    problems = []
    overrides = shrink_overrides(bundle)
    for config in config_files(bundle):
        try:
            parser = load_parser(bundle, config, overrides)
            parser.parse(reset=True)
        except Exception as err:
            problems.append(f"{config.name} does not parse: {err}")
            continue
        if config.name in RUN_CONFIGS and "run" in ConfigParser.load_config_file(str(config)):  # its own run
            problems += check_run(parser, config.name)
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


def _references(value) -> set[str]:
    """The config ids a raw config value refers to (``@id`` in its strings, nested ones too)."""
    if isinstance(value, str):
        return set(REFERENCE.findall(value))
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def reachable_ids(parser, start: set[str]) -> set[str]:
    """Every config id reached from ``start`` by following references."""
    seen, todo = set(), list(start)
    while todo:
        ref = todo.pop()
        if ref in seen or ref not in parser:
            continue
        seen.add(ref)
        todo += _references(parser[ref])
    return seen


def check_run(parser, name: str) -> list[str]:
    """``run`` hands the config's parsed components over: its expressions pass ``@id`` references
    only (no keyword-argument lists, no literals), every id exists, and (in inference.json) the
    components that run are the model-zoo ones: ``network_def``, ``preprocessing``, ``inferer``
    and ``postprocessing`` are reached from ``run``."""
    run = parser["run"]
    expressions = run if isinstance(run, list) else [run]
    problems, refs = [], set()
    for expression in expressions:
        if not isinstance(expression, str) or not expression.startswith("$"):
            problems.append(f"{name}: run entry {expression!r} is not an expression")
            continue
        found = REFERENCE.findall(expression)
        refs.update(found)
        problems += [f"{name}: run refers to @{ref}, which the config does not define" for ref in found if ref not in parser]
        code = REFERENCE.sub(lambda m: "_ref_" + re.sub(r"#|::", "_", m.group(1)), expression[1:])
        try:
            tree = ast.parse(code, mode="eval")
        except SyntaxError as err:
            problems.append(f"{name}: run entry {expression!r} is not a Python expression ({err.msg})")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if node.keywords:
                    problems.append(f"{name}: run passes keyword arguments ({', '.join(str(k.arg) for k in node.keywords)}): "
                                    "give them as config keys of the components it runs")
                problems += [f"{name}: run passes the literal {ast.unparse(a)}: make it a config key"
                             for a in node.args if isinstance(a, ast.Constant)]
    if name == "inference.json":
        missing = [key for key in PIPELINE_KEYS if key not in reachable_ids(parser, refs)]
        if missing:
            problems.append(f"inference.json: run does not use {missing}: what runs must be the config's components")
    return problems


def takes_one_image(bundle: Path) -> bool:
    """Whether the metadata declares a single input of type "image" (verify_net_in_out applies)."""
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    inputs = meta.get("network_data_format", {}).get("inputs", {})
    return len(inputs) == 1 and next(iter(inputs.values())).get("type") == "image"


def check_net_in_out(bundle: Path) -> list[str]:
    """``monai.bundle.verify_net_in_out`` with random weights and the metadata's shapes."""
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


def input_shape(bundle: Path) -> list[int]:
    """(1, C, *spatial) of the metadata's one image input, its spatial pattern read with n=1
    as MONAI's ``verify_net_in_out`` reads it."""
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    image = next(iter(meta["network_data_format"]["inputs"].values()))
    return [1, image["num_channels"], *_get_fake_spatial_shape(image["spatial_shape"])]


def check_torchscript(bundle: Path) -> list[str]:
    """``monai.bundle.ckpt_export`` of a checkpoint of the config's network with random weights,
    for networks that take one image: by scripting, as model-zoo's CI runs it, else by tracing
    on the metadata's input shape (MONAI's ``SwinUNETR`` does not script; model-zoo excludes its
    own Swin UNETR bundles from that check)."""
    if not takes_one_image(bundle):
        return []
    overrides = {**shrink_overrides(bundle), "bundle_root": str(bundle)}
    shape = input_shape(bundle)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            network = bundle_parser(bundle, "inference.json", **overrides).get_parsed_content("network_def")
            torch.save(network.state_dict(), Path(tmp) / "model.pt")
        except Exception as err:
            return [f"network_def does not build for ckpt_export: {err}"]
        for trace in (False, True):
            try:
                ckpt_export(net_id="network_def", filepath=str(Path(tmp) / "model.ts"), ckpt_file=str(Path(tmp) / "model.pt"),
                            meta_file=str(bundle / "configs" / "metadata.json"),
                            config_file=str(bundle / "configs" / "inference.json"), use_trace=trace,
                            input_shape=shape if trace else None, **overrides)
                torch.jit.load(str(Path(tmp) / "model.ts"))
                return []
            except Exception as err:
                problems.append(f"ckpt_export ({'tracing' if trace else 'scripting'}) fails: {str(err)[:300]}")
    return problems


def check_bundle(bundle: Path, schema: Path) -> list[str]:
    """All checks; later ones run only once the required files are there."""
    problems = check_files(bundle)
    if any("configs/" in p for p in problems):
        return problems
    problems += check_metadata(bundle, schema)
    problems += check_configs(bundle)
    if not problems:
        problems += check_net_in_out(bundle)
    if not problems:
        problems += check_torchscript(bundle)
    return problems
