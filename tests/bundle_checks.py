"""Checks that a bundle's config is what runs (issue 15), shared by each bundle's tests.

- :func:`run_cli`: ``python -m monai.bundle run`` in a subprocess, overrides as a user types them;
- :func:`provenance`: what the run recorded about the components it ran (network class,
  parameter count, device, inferer settings);
- :func:`predict_by_hand`: ``preprocessing`` → ``inferer(network)`` → ``postprocessing`` on one
  input dict, as MONAI Label's ``BundleInferTask`` runs a bundle;
- :func:`architecture`: the network class and parameter shapes a config builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from medvit.bundle.registry import bundles_root
from medvit.bundle.run import bundle_parser, config_paths


class FlippedInferer:
    """The network on the input mirrored along its first spatial axis: a MONAI-style inferer
    (``inferer(inputs, network)``) for classifiers, whose (B, C) output no sliding-window
    inferer takes. A swapped inferer is how a user changes their inference, and must reach the run."""

    def __call__(self, inputs, network, *args, **kwargs):
        return network(inputs.flip(2), *args, **kwargs)


def bundle_dir(name: str) -> Path:
    return bundles_root() / name


def run_cli(name: str, config: str | list[str] = "inference.json", timeout: float = 600, **overrides) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run --config_file ... --meta_file ... --KEY VALUE ...`` (values as
    Python literals, as fire parses them: ``False``, ``None``, ``[112, 112]``)."""
    bundle = bundle_dir(name)
    files = config_paths(bundle, config)
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", json.dumps(files) if len(files) > 1 else files[0],
               "--meta_file", str(bundle / "configs" / "metadata.json"), "--bundle_root", str(bundle)]
    for key, value in overrides.items():
        command += [f"--{key}", value if isinstance(value, str) else repr(value)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def provenance(output_csv: str | Path) -> dict:
    """The ``provenance`` block of a cohort table's sidecar (bundle, network, parameters, inferer, ...)."""
    path = Path(output_csv)
    return json.loads(path.with_name(f"{path.stem}.provenance.json").read_text())["provenance"]


def components(name: str, config: str | list[str] = "inference.json", **overrides) -> dict:
    """The parsed ``network``, ``preprocessing``, ``inferer`` and ``postprocessing`` of a bundle's config."""
    parser = bundle_parser(bundle_dir(name), config, **overrides)
    return {key: parser.get_parsed_content(key) for key in ("network", "preprocessing", "inferer", "postprocessing")}


def predict_by_hand(name: str, image, config: str | list[str] = "inference.json", **overrides) -> dict:
    """One input through the bundle's components as MONAI Label runs them; returns the data dict
    (``pred`` after postprocessing, and the ``row`` the transforms filled)."""
    import torch

    parts = components(name, config, **overrides)
    data = parts["preprocessing"]({"image": image})
    device = next(parts["network"].parameters()).device
    with torch.no_grad():
        data["pred"] = parts["inferer"](torch.as_tensor(data["image"])[None].to(device), parts["network"])[0]
    return parts["postprocessing"](data)


def architecture(name: str, config: str, **overrides) -> tuple[str, dict]:
    """The class of ``network_def`` in a config and its parameters' shapes."""
    network = bundle_parser(bundle_dir(name), config, **overrides).get_parsed_content("network_def")
    return type(network).__name__, {k: tuple(v.shape) for k, v in network.state_dict().items()}
