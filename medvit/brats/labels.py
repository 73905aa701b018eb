"""BraTS tumour regions as unions of label codes (no MONAI import: the viewer uses it too)."""

# tumour core, whole tumour, enhancing tumour (label 4 in BraTS 2018-2021, 3 in BraTS 2023),
# necrosis / non-enhancing core, oedema
REGION_LABELS = {"tc": (1, 3, 4), "wt": (1, 2, 3, 4), "et": (3, 4), "ncr": (1,), "ed": (2,)}
