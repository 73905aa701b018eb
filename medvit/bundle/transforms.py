"""Dictionary transforms every bundle's postprocessing uses: the case's table row and its files.

A case's columns travel in the data under ``"row"`` (:func:`medvit.bundle.workflow.add_to_row`);
files a case writes are named after the input's path below the cohort folder, so two inputs
with the same name in different folders, or with different suffixes, never share an output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from medvit.bundle.workflow import ROW_KEY, add_to_row

RANDOM_WEIGHTS = "random (no checkpoint)"


def case_output_path(source: str | os.PathLike, root: str | os.PathLike | None, output_dir: str | os.PathLike,
                     suffix: str) -> Path:
    """Where a case's output goes: ``<output_dir>/<folders below root>/<name>_<suffix>``.

    ``name`` is the input's file name with its dots made underscores (``chest.png`` →
    ``chest_png``), so ``chest.png`` and ``chest.jpg`` differ; the folders keep ``siteA/chest``
    and ``siteB/chest`` apart. An input outside ``root`` (or with none) keeps its name only.

    >>> case_output_path("/data/siteA/chest.png", "/data", "/out/saliency", "saliency.png").as_posix()
    '/out/saliency/siteA/chest_png_saliency.png'
    """
    source = Path(source)
    try:
        relative = source.resolve().relative_to(Path(root).resolve()) if root else Path(source.name)
    except ValueError:
        relative = Path(source.name)
    name = re.sub(r"[^\w\-]+", "_", relative.name).strip("_") or "case"
    folders = [re.sub(r"[^\w\-. ]+", "_", part) for part in relative.parent.parts if part not in ("", ".")]
    return Path(output_dir).joinpath(*folders, f"{name}_{suffix}")


def source_path(data: Mapping, key: str = "image") -> str:
    """The input path of a case: the data's ``source`` (set by :class:`~medvit.bundle.workflow.CasePredictor`),
    else the ``filename_or_obj`` that MONAI's loader recorded (the first, for several files)."""
    if data.get("source"):
        return os.fspath(data["source"])
    name = getattr(data.get(key), "meta", {}).get("filename_or_obj", "")
    return os.fspath(name[0] if isinstance(name, (list, tuple)) else name)


class WeightsRowd(Transform):
    """Adds the ``weights`` column: the checkpoint's file name, or that the weights are random."""

    def __init__(self, checkpoint: str | os.PathLike | None = None, column: str = "weights"):
        self.value = Path(checkpoint).name if checkpoint else RANDOM_WEIGHTS
        self.column = column

    def __call__(self, data: Mapping) -> dict:
        return add_to_row(data, {self.column: self.value})


class ProbabilityRowd(MapTransform):
    """One column per class from a (C,) probability vector, and the most probable class.

    Args:
        keys: the probabilities (after ``Activationsd``).
        labels: the class names, in output order.
        prefix: column name prefix (``"p_"`` gives ``p_normal``).
        top_column: the column naming the most probable class.
    """

    def __init__(self, keys: KeysCollection, labels: Sequence[str], prefix: str = "", top_column: str = "predicted"):
        super().__init__(keys)
        self.labels, self.prefix, self.top_column = list(labels), prefix, top_column

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            probabilities = np.asarray(d[key].detach().cpu() if hasattr(d[key], "detach") else d[key], dtype=float)
            probabilities = probabilities.reshape(-1)
            if len(probabilities) != len(self.labels):
                raise ValueError(f"{len(probabilities)} outputs for {len(self.labels)} labels")
            values = {f"{self.prefix}{label}": float(p) for label, p in zip(self.labels, probabilities)}
            values[self.top_column] = self.labels[int(np.argmax(probabilities))]
            d = add_to_row(d, values, ROW_KEY)
        return d
