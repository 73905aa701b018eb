"""Scoring a folder of submissions like the challenge: ``medvit recon-score PRED_DIR REF_DIR``.

``PRED_DIR`` holds ``img4ranking`` files in the challenge's layout
(``{MultiCoil|SingleCoil}/{Cine|Mapping}/<split>/AccFactorRR/P###/<kind>.mat``). The
reference of each is the file at the same place under ``REF_DIR`` (the folder holding
``MultiCoil/``, or ``MultiCoil/`` itself) — an ``img4ranking`` file, as the challenge's gold
standard — or, failing that, the case's fully sampled ``FullSample`` k-space there (undersampled
k-space is refused as a reference), reconstructed as the challenge did (orthonormal centred inverse FFT, RSS) for the
ranked slices and frames only. One CSV row per file (the cohort runner: a bad file gets an
error row, re-runs skip what is done), and a summary per coil, kind and acceleration.

The bundle's ``evaluate.json`` (:func:`evaluate_reconstruction`) runs its inference once per
method (the network, then each baseline) and scores each submission tree so.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from monai.bundle import ConfigParser

from medvit.batch import run_cohort
from medvit.batch.summary import write_summary
from medvit.bundle.workflow import active_config
from medvit.cmrxrecon.layout import (
    COIL_FOLDERS,
    SUBMISSION_VARIABLE,
    TASK_FOLDERS,
    CMRxKSpace,
    challenge_base,
    challenge_parts,
    read_submission,
)
from medvit.cmrxrecon.reconstruct import selected_images
from medvit.cmrxrecon.scoring import ranking_crop, ranking_volume, score_images
from medvit.errors import MedvitError
from medvit.io.atomic import atomic_path
from medvit.io.matlab import mat_variables
from medvit.recon.baselines import zero_filled

METRIC_COLUMNS = ("psnr", "ssim", "nmse")
LAYOUT_COLUMNS = ("coil", "task", "split", "acceleration", "case", "kind")
GROUP_COLUMNS = ("coil", "kind", "acceleration")
# evaluate.json's own keys, and inference.json's run, which each method's run is
EVALUATE_IDS = ("reference_dir", "baselines")
INFERENCE_RUN = "$@cohort.run(@predictor)"


def ranking_images(path: str | os.PathLike, task: str, reconstruct: Callable[[np.ndarray], np.ndarray] | None = None,
                   variable: str | None = None) -> np.ndarray:
    """Reconstruct only what the challenge ranks of a k-space file, as ``img4ranking`` holds it.

    Args:
        path: a CMRxRecon k-space file.
        task: "cine" or "mapping".
        reconstruct: (coil, ky, kx) complex k-space → (ky, kx) magnitude; default: zero-filled
            RSS (for a fully sampled file, the challenge's reference).
        variable: the k-space variable (default: the file's only one).

    Returns:
        float32 (round(sx/3), round(sy/2), z', t') in MATLAB order (sx = kx, sy = ky).
    """
    reconstruct = reconstruct or zero_filled
    with CMRxKSpace(path, variable) as kspace:
        images = selected_images(kspace, lambda t, z: reconstruct(kspace.read_slice(t, z)), task)
    return ranking_crop(images)


def layout_of(path: Path, relative: Path | None = None) -> dict[str, str]:
    """Coil, task, split, acceleration, case and kind from the last six levels of a file's path
    (``relative``: how messages name it)."""
    parts = challenge_parts(path)
    if parts is None or Path(parts[-1]).stem not in TASK_FOLDERS:
        name = relative or path
        hint = ""
        if len(path.parts) >= 5 and path.parts[-5] in TASK_FOLDERS.values() and path.parts[-6:][0] not in COIL_FOLDERS:
            hint = f" (the {' or '.join(COIL_FOLDERS)} folder above {path.parts[-5]}/ is missing)"
        raise MedvitError(
            f"{name}: not in the CMRxRecon layout "
            "{MultiCoil|SingleCoil}/{Cine|Mapping}/<split>/AccFactorRR/P###/{cine_lax,cine_sax,T1map,T2map}.mat" + hint
        )
    coil, task, split, acceleration, case, _ = parts
    return {"coil": coil, "task": task, "split": split, "acceleration": acceleration, "case": case,
            "kind": Path(path).stem}


@functools.lru_cache(maxsize=8)
def _full_sample_images(path: str, mtime_ns: int, task: str, variable: str) -> np.ndarray:
    """:func:`ranking_images` of a FullSample file, kept: one case's reference serves every
    acceleration and method scored (keyed on the file's mtime, so a rewritten file is re-read).
    A file whose k-space is not fully sampled is refused (:meth:`CMRxKSpace.check_fully_sampled`)."""
    with CMRxKSpace(path, variable) as kspace:
        kspace.check_fully_sampled()
    images = ranking_images(path, task, variable=variable)
    images.flags.writeable = False
    return images


def reference_for(ref_root: Path, parts: tuple[str, ...], task: str) -> tuple[np.ndarray, str]:
    """The reference ranking images of a submission file (its challenge levels ``parts``), and
    what they were made from: the file at the same place under ``ref_root`` (``img4ranking`` or
    fully sampled k-space), else the case's ``FullSample`` file. ``ref_root`` is the folder
    holding ``MultiCoil/`` or that folder itself (:func:`~medvit.cmrxrecon.layout.challenge_base`).

    Raises:
        MedvitError: neither file exists or holds a reference; undersampled k-space at either
            place is named as such (it is never a reference).
    """
    base = challenge_base(ref_root)
    same_place = base.joinpath(*parts)
    full_sample = base.joinpath(*parts[:3], "FullSample", *parts[-2:])
    undersampled = []
    for path in dict.fromkeys((same_place, full_sample)):
        if not path.is_file():
            continue
        names = mat_variables(path)
        full = [name for name in ("kspace_full", "kspace_single_full") if name in names]
        if full:
            return _full_sample_images(str(path), path.stat().st_mtime_ns, task, full[0]), f"{path} ({full[0]})"
        if SUBMISSION_VARIABLE in names:
            return read_submission(path), str(path)
        undersampled += [f"{path.name} holds {name}" for name in names if name.startswith("kspace")]
    found = f" ({'; '.join(undersampled)}: undersampled, not a reference)" if undersampled else ""
    raise MedvitError(f"no reference for {Path(*parts)}: no {SUBMISSION_VARIABLE} or fully sampled k-space "
                      f"at {same_place} or {full_sample}{found}")


def score_submission_file(path: str, pred_root: str, ref_root: str) -> dict:
    """One CSV row: layout columns, PSNR / SSIM / NMSE of a submission file against its reference."""
    path = Path(path)
    row = layout_of(path, path.relative_to(pred_root))
    task = row["task"].lower()
    reference, source = reference_for(Path(ref_root), challenge_parts(path), task)
    prediction = read_submission(path)
    if prediction.ndim == 4 and prediction.shape != reference.shape:
        prediction = ranking_volume(prediction, task)  # a full-size reconstruction: reduce it as run4Ranking does
    if prediction.shape != reference.shape:
        raise MedvitError(f"img4ranking {prediction.shape} does not match the reference {reference.shape} of {source}")
    return {**row, **score_images(prediction, reference), "reference": source}


def score_submissions(pred_dir: str | os.PathLike, ref_dir: str | os.PathLike, out_csv: str | os.PathLike,
                      workers: int = 1, resume: bool = True, progress: bool = True):
    """Score every submission file under ``pred_dir``; ``out_csv`` and ``<stem>_summary.csv`` beside it.

    Returns:
        ``(table, summary_path)``: the per-file table (cohort runner's, with status / error).
    """
    pred_dir, ref_dir = Path(pred_dir).resolve(), Path(ref_dir).resolve()
    files = sorted(p for p in pred_dir.rglob("*.mat") if not p.stem.endswith("_mask"))
    if not files:
        raise MedvitError(f"{pred_dir}: no .mat submission files")
    columns = [*LAYOUT_COLUMNS, *METRIC_COLUMNS, "reference"]
    settings = {"pred_root": str(pred_dir), "ref_root": str(ref_dir)}
    table = run_cohort(files, score_submission_file, out_csv, settings, columns=columns, workers=workers,
                       case_id="relative", root=pred_dir, resume=resume, progress=progress)
    summary = Path(out_csv).with_name(f"{Path(out_csv).stem}_summary.csv")
    write_summary(table, summary, METRIC_COLUMNS, by=GROUP_COLUMNS)
    return table, summary


def method_run(config: dict, method: str, output_dir: str | os.PathLike):
    """Run the bundle's inference (``config``: its raw config, as :func:`~medvit.bundle.workflow.active_config`
    gives it) with ``method`` into ``output_dir``: the table of ``<output_dir>/reconstructions.csv``.

    The run is ``inference.json``'s own (``cohort.run(predictor)``) in a parser of its own, so its
    workers rebuild, and its resume fingerprint covers, that method's config; evaluate.json's keys
    are left out of it (another list of baselines does not redo the network's run).
    """
    variant = {key: value for key, value in config.items() if key not in EVALUATE_IDS}
    variant.update(method=method, output_dir=os.fspath(output_dir), run=[INFERENCE_RUN])
    return ConfigParser(variant).get_parsed_content("run")[-1]


def evaluate_reconstruction(output_dir: str | os.PathLike, *, reference_dir: str | os.PathLike,
                            baselines=("zero_filled",), workers: int = 1, progress: bool = True):
    """``evaluate.json``'s run: reconstruct the undersampled files with the network and with each
    baseline, and score every one like the challenge.

    Submissions go to ``<output_dir>/<method>/`` (the bundle's inference with ``method`` and that
    ``output_dir``: :func:`method_run`), their scores to ``<output_dir>/scores_<method>.csv`` (one
    row per file, :func:`score_submissions`) with a ``_summary.csv`` each, and the means per method
    and acceleration side by side to ``<output_dir>/comparison.csv``.

    Args:
        reference_dir: where the references are (``FullSample`` k-space or ``img4ranking``
            files at the same place).
        baselines: reconstructions without learning to compare with: "zero_filled", "sense".

    Returns:
        the comparison table (method, acceleration, files, psnr, ssim, nmse).
    """
    config = active_config()
    if config is None:
        raise MedvitError("evaluate_reconstruction runs inside the bundle's evaluate.json (monai.bundle run)")
    output_dir = Path(output_dir)
    rows = []
    for method in ("varnet", *baselines):
        submissions = output_dir / method
        table = method_run(config, method, submissions)
        failed = table[table["status"] != "ok"]
        if len(failed) == len(table):
            raise MedvitError(f"{method}: every file failed, e.g. {failed.iloc[0]['image']}: {failed.iloc[0]['error']}")
        scores, _ = score_submissions(submissions, reference_dir, output_dir / f"scores_{method}.csv",
                                      workers=workers, progress=progress)
        for acceleration, group in scores[scores["status"] == "ok"].groupby("acceleration"):
            rows.append({"method": method, "acceleration": acceleration, "files": len(group),
                         **{metric: float(group[metric].mean()) for metric in METRIC_COLUMNS}})
    comparison = pd.DataFrame(rows, columns=["method", "acceleration", "files", *METRIC_COLUMNS])
    with atomic_path(output_dir / "comparison.csv") as tmp:
        comparison.to_csv(tmp, index=False)
    return comparison
