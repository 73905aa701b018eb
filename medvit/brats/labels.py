"""BraTS label codes and tumour regions, defined once (no MONAI import: the viewer uses it too)."""

# label map codes: necrosis / non-enhancing core, oedema, enhancing tumour (4 in BraTS 2018-2021, 3 in BraTS 2023)
NCR, ED, ET_BRATS21, ET_BRATS23 = 1, 2, 4, 3
# tumour core, whole tumour, enhancing tumour, necrosis / non-enhancing core, oedema as unions of codes
REGION_LABELS = {"tc": (NCR, ET_BRATS23, ET_BRATS21), "wt": (NCR, ED, ET_BRATS23, ET_BRATS21),
                 "et": (ET_BRATS23, ET_BRATS21), "ncr": (NCR,), "ed": (ED,)}
# the network's output channels, in MONAI's ``ConvertToMultiChannelBasedOnBratsClasses`` order
CHANNELS = ("tc", "wt", "et")
