"""Dictionary transforms of the CMRxRecon bundle: a k-space file in, a submission file and its row out.

``preprocessing`` opens the file (:class:`LoadCMRxKSpaced`), the predictor
(:class:`~medvit.cmrxrecon.reconstruct.KSpacePredictor`) reconstructs its slices and frames
into ``pred`` (float32 ``(sx, sy, z, t)``, MATLAB's order), ``postprocessing`` crops what the
challenge ranks (:class:`RankingCropd`), writes it in the challenge's tree
(:class:`SaveSubmissiond`) and adds the row's columns (:class:`ReconstructionRowd`, with
:class:`~medvit.bundle.transforms.WeightsRowd`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from medvit.bundle.transforms import source_path
from medvit.bundle.workflow import add_to_row
from medvit.cmrxrecon.layout import CMRxKSpace, submission_relative_path, write_submission
from medvit.cmrxrecon.reconstruct import task_of
from medvit.cmrxrecon.scoring import ranking_crop
from medvit.errors import MedvitError

START_KEY = "start_time"


class LoadCMRxKSpaced(MapTransform):
    """Opens a CMRxRecon k-space file and reads its line mask: the bundle's first transform.

    Not MONAI's ``LoadImaged``: the input is undersampled k-space (complex ``[t, z, coil, ky, kx]``,
    gigabytes for a cine file) with its sampling mask in another file, read by the predictor one
    (frame, slice) at a time, not an image loaded whole.

    ``{key: path}`` → ``{key: CMRxKSpace (open; the predictor closes it), mask_key: bool (ky,) sampled
    lines, "task": "cine" | "mapping", "source": path, "start_time": ...}``; the row gets ``task``,
    ``kind``, ``acceleration``, ``coils``.

    Raises:
        MedvitError: the file is not one of the challenge's kinds, is fully sampled, or its mask
            is missing or does not fit (naming the file and variable).
    """

    def __init__(self, keys: KeysCollection = "image", mask_key: str = "mask"):
        super().__init__(keys)
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            start = time.perf_counter()
            path = Path(d[key])
            task = task_of(path.stem, path)
            kspace = CMRxKSpace(path)
            try:
                if kspace.acceleration is None:
                    raise MedvitError(f"{path}: '{kspace.variable}' is fully sampled: nothing to reconstruct")
                lines = kspace.read_line_mask()
            except BaseException:
                kspace.close()
                raise
            d.update({key: kspace, self.mask_key: lines, "task": task, "source": os.fspath(path), START_KEY: start})
            d = add_to_row(d, {"task": task, "kind": path.stem, "acceleration": kspace.acceleration,
                               "coils": kspace.num_coils})
        return d


class RankingCropd(MapTransform):
    """:func:`~medvit.cmrxrecon.scoring.ranking_crop`: (sx, sy, z, t) → (round(sx/3), round(sy/2), z, t),
    the centre the challenge's ``run4Ranking.m`` keeps."""

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = ranking_crop(np.asarray(d[key]))
        return d


class SaveSubmissiond(MapTransform):
    """Writes (sx, sy, z, t) images as ``img4ranking`` at the input's path below ``root``, under
    ``output_dir``, in the challenge's submission layout (``MultiCoil/Cine/TestSet/AccFactor04/
    P001/cine_sax.mat`` also when ``root`` is ``.../MultiCoil``:
    :func:`~medvit.cmrxrecon.layout.submission_relative_path`); the row's ``output`` column is that
    path relative to ``output_dir``."""

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike, root: str | os.PathLike,
                 column: str = "output"):
        super().__init__(keys)
        self.output_dir, self.root, self.column = Path(output_dir), Path(root), column

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            source = Path(source_path(d))
            try:
                relative = submission_relative_path(source.resolve(), self.root.resolve())
            except ValueError:
                raise MedvitError(f"{source} is not under {self.root}: its place in the submission tree is unknown") from None
            target = self.output_dir / relative
            write_submission(target, np.asarray(d[key]))
            d = add_to_row(d, {self.column: os.path.relpath(target, self.output_dir)})
        return d


class ReconstructionRowd(MapTransform):
    """The row's ``slices`` and ``frames`` (of the (sx, sy, z, t) images written), ``method``, and
    ``seconds`` since :class:`LoadCMRxKSpaced` opened the file."""

    def __init__(self, keys: KeysCollection, method: str):
        super().__init__(keys)
        self.method = method

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            shape = np.shape(d[key])
            values = {"slices": shape[2], "frames": shape[3], "method": self.method}
            if START_KEY in d:
                values["seconds"] = round(time.perf_counter() - d[START_KEY], 3)
            d = add_to_row(d, values)
        return d
