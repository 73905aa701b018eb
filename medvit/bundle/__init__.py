"""medvit's MONAI bundles: where they are, what they are, and whether they conform."""

from medvit.bundle.registry import bundle_info, bundles_root, list_bundles

__all__ = ["bundle_info", "bundles_root", "list_bundles"]
