"""The sample results each page shows before a study is opened: the ``medvit demo`` outputs.

They are the ``medvit demo`` steps' outputs (DESIGN.md's sample data through the bundles; the
training steps train their tiny network first, so what is shown is a real toy result). A step
``make demo`` finished in ``demo_out/`` (``$MEDVIT_DEMO_OUT``, else ``demo_out`` in the current
folder) is used as it is; only a step missing there is run, once, into the viewer's cache folder:
``$MEDVIT_VIEWER_CACHE``, else ``~/.cache/medvit/viewer``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from medvit.demo import COMPLETE, CXR_TOY_ARGS, STEPS
# page → (``medvit demo`` step, sub-folder of its output that holds the bundle's table)
SAMPLES = {
    "volume": ("brats-swin-unetr", "results"),
    "fundus": ("pvbm-biomarkers", ""),
    "cxr": ("mae-thorax", "results"),  # shown once that bundle adds its demo step
    "recon": ("cmrxrecon-varnet", "trained/models"),  # the demo's toy VarNet checkpoint
}


def cache_root() -> Path:
    return Path(os.environ.get("MEDVIT_VIEWER_CACHE") or Path.home() / ".cache" / "medvit" / "viewer")


def demo_root() -> Path:
    """Where ``make demo`` (``medvit demo --out demo_out``) wrote its steps."""
    return Path(os.environ.get("MEDVIT_DEMO_OUT") or Path.cwd() / "demo_out")


def _made(step: str) -> Path | None:
    """The step's finished output folder: the demo's, else the viewer's own; None when neither."""
    return next((root / step for root in (demo_root(), cache_root()) if (root / step / COMPLETE).is_file()), None)


def sample_available(page: str) -> bool:
    """Whether the page has a sample: made already, or a demo step that can make it."""
    step, _ = SAMPLES[page]
    return _made(step) is not None or step in STEPS


def sample_output(page: str, make: bool = True, step_fn: Callable[[Path], list[str]] | None = None) -> Path | None:
    """The output folder of the page's sample, made now when missing (None when it cannot be).

    Args:
        page: "volume", "fundus" or "cxr".
        make: run the demo step when the sample is missing (False: only report what exists).
        step_fn: what makes the sample instead of the demo step (same contract: fills the
            folder it is given), e.g. a smaller run in tests.
    """
    step, sub = SAMPLES[page]
    made = _made(step)
    if made is not None:
        return made / sub
    root = cache_root()
    folder = root / step
    if not make:
        return None
    if step_fn is None:
        from medvit.demo import STEPS

        step_fn = STEPS.get(step)
        if step_fn is None:
            return None
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{step}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another viewer process may be making it
        try:
            if not (folder / COMPLETE).is_file():
                shutil.rmtree(folder, ignore_errors=True)  # a run cut short leaves no half sample
                lines = step_fn(folder)
                (folder / COMPLETE).write_text("\n".join(lines or []) + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder / sub


def sample_notes(page: str) -> str:
    """What the demo step said when it made the sample (e.g. how the toy network was trained)."""
    folder = _made(SAMPLES[page][0])
    return (folder / COMPLETE).read_text().strip() if folder is not None else ""


def sample_origin(page: str) -> str:
    """Where the page's sample results come from, as the end of a sentence ("made by `make demo`
    (...)"); "" before they are made. Names the demo's folder relative to where the viewer runs,
    not the server's paths."""
    step, _ = SAMPLES[page]
    folder = _made(step)
    if folder is None:
        return ""
    if folder.parent == demo_root():
        return f"made by `make demo` (its `{step}` step's output in {demo_root().name}/{step}, reused as it is)"
    return (f"made on first use by the `{step}` step of `medvit demo` (run `make demo` and the viewer shows "
            f"{demo_root().name}/ instead)")


def toy_cxr_classifier(make: bool = True) -> tuple[str, str] | None:
    """The ``medvit demo`` chest X-ray step's toy ViT as ``(checkpoint path, build_vit arguments
    as JSON)``, trained once on first use (about a minute); None when missing and not ``make``."""
    folder = sample_output("cxr", make=make)
    checkpoint = folder.parent / "trained" / "models" / "model.pt" if folder is not None else None
    if checkpoint is None or not checkpoint.is_file():
        return None
    return str(checkpoint), json.dumps(CXR_TOY_ARGS)
