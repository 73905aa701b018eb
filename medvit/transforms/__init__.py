"""MONAI-style transforms MONAI lacks (array functions and thin dictionary wrappers)."""
