"""Running a bundle's configs from Python, as ``python -m monai.bundle run`` does (CLI, demo,
viewer, notebooks, tests): the same configs, parsed by MONAI, so every caller runs the same
components.

MONAI is imported where a config is parsed, not with this module: ``import monai`` loads all of
MONAI (with ignite and torch.distributed where installed, ~4 s), which a command that stops
early (a wrong option or demo step) or a notebook's imports need not wait for.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from medvit.batch.worker import unwrapped_errors
from medvit.bundle.progress import attach_epoch_log

# Configs that are fragments, run on top of another as MONAI bundles do
# (``--config_file "['configs/inference.json', 'configs/evaluate.json']"``).
BASE_CONFIG = {"evaluate.json": "inference.json", "multi_gpu_train.json": "train.json",
               "multi_gpu_pretrain.json": "pretrain.json"}


def config_paths(bundle: Path, config: str | list[str]) -> list[str]:
    """The files a config name stands for: a fragment (``evaluate.json``) comes after its base."""
    names = [config] if isinstance(config, str) else list(config)
    if len(names) == 1 and names[0] in BASE_CONFIG:
        names = [BASE_CONFIG[names[0]], names[0]]
    return [str(Path(bundle) / "configs" / name) for name in names]


def bundle_parser(bundle: Path, config: str | list[str] = "inference.json", **overrides):
    """A ``ConfigParser`` over a bundle's config (a fragment on top of its base), with its
    metadata, ``bundle_root`` set to the bundle and ``overrides`` (config ids → values) applied."""
    from monai.bundle import ConfigParser

    import medvit.io.monai_reader  # noqa: F401 - quiets MONAI's GPU DICOM reader notices before LoadImaged is built

    parser = ConfigParser()
    parser.read_config(config_paths(bundle, config))
    parser.read_meta(str(Path(bundle) / "configs" / "metadata.json"))
    parser.update({"bundle_root": str(bundle), **overrides})
    return parser


def run_config(bundle: Path, config: str | list[str], **overrides):
    """``python -m monai.bundle run`` of one of the bundle's configs (a fragment such as
    ``evaluate.json`` on top of its base), its log quietened but a training run printing one line
    per epoch (:mod:`medvit.bundle.progress`); returns what ``run`` returned (its last
    expression's value, e.g. the cohort table).

    ``bundle_root`` defaults to the bundle; ``overrides`` are config ids → values.
    """
    from monai.bundle import ConfigWorkflow

    from medvit.io.monai_reader import quiet_gpu_dicom_reader_notices

    with warnings.catch_warnings(), unwrapped_errors():
        warnings.filterwarnings("ignore", message="parsing config_file", category=UserWarning)
        quiet_gpu_dicom_reader_notices()  # again: catch_warnings drops the filter it set on import at the end
        logging.disable(logging.INFO)
        try:
            workflow = ConfigWorkflow(config_file=config_paths(bundle, config),
                                      meta_file=str(Path(bundle) / "configs" / "metadata.json"),
                                      workflow_type=None, **{"bundle_root": str(bundle), **overrides})
            workflow.initialize()
            attach_epoch_log(workflow.parser)
            results = workflow.run()
            workflow.finalize()
        finally:
            logging.disable(logging.NOTSET)
    return results[-1] if results else None
