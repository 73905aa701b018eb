"""What the Streamlit viewer (``apps/viewer/``) does that is not drawing widgets.

Opening studies (bundle output folders, cohort CSVs, uploads), window / level, slicing in
three planes with millimetre extents, label overlays, the voxel probe, reconstructions to
compare, and the sample results the pages show on first use. Everything here runs without
Streamlit or a browser, so it is tested as plain functions; ``apps/viewer/`` only lays it out.
Every image is read through :mod:`medvit.io`.
"""
