"""medvit: MONAI bundles for ViT-era medical imaging methods on hospital data.

Importing ``medvit`` is cheap (no torch / MONAI); sub-packages import what they need.
"""

__version__ = "0.1.0"
