"""BraTS region channels (TC, WT, ET) back to a BraTS label map.

MONAI's ``ConvertToMultiChannelBasedOnBratsClasses`` turns labels {1 NCR, 2 ED, 4 ET} into
the overlapping regions a network predicts: TC = {1, 4}, WT = {1, 2, 4}, ET = {4}. Writing a
result for a radiologist or a challenge needs the way back, which MONAI does not have.
"""

from __future__ import annotations

import numpy as np
from monai.transforms import MapTransform

NCR, ED, ET_BRATS21, ET_BRATS23 = 1, 2, 4, 3
REGIONS = ("TC", "WT", "ET")  # channel order of the network's outputs (MONAI's convention)


def brats_label_map(regions, et_label: int = ET_BRATS21) -> np.ndarray:
    """Region masks (3, X, Y, Z) in TC, WT, ET order → label map (X, Y, Z) uint8.

    As the Swin UNETR BraTS 2021 test script writes them: WT → 2 (oedema), then TC → 1
    (necrosis / non-enhancing core), then ET → ``et_label`` (4 in BraTS 2021, 3 in BraTS
    2023), each overwriting the one before. So a voxel any sigmoid calls ET is ET, and one
    called TC is core, whatever WT says (the regions of the label map nest: ET ⊂ TC ⊂ WT).
    """
    array = np.asarray(regions.cpu() if hasattr(regions, "cpu") else regions).astype(bool)
    if array.ndim < 2 or array.shape[0] != 3:
        raise ValueError(f"expected (3, ...) TC/WT/ET region masks, got shape {array.shape}")
    tc, wt, et = array
    tc = tc | et
    wt = wt | tc
    labels = np.zeros(tc.shape, dtype=np.uint8)
    labels[wt] = ED
    labels[tc] = NCR
    labels[et] = et_label
    return labels


class BratsLabelMapd(MapTransform):
    """Dictionary wrapper of :func:`brats_label_map`: (3, ...) regions → (1, ...) labels, metadata kept."""

    def __init__(self, keys, et_label: int = ET_BRATS21, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.et_label = et_label

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            labels = brats_label_map(d[key], self.et_label)[None]
            source = d[key]
            d[key] = source.new_tensor(labels) if hasattr(source, "new_tensor") else labels
        return d
