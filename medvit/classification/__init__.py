"""Image classification pipelines: per-image functions the cohort runner calls."""
