"""medvit viewer: ``medvit viewer`` (or ``streamlit run apps/viewer/app.py`` from the repository root;
pages in ``apps/viewer/pages/``)."""

import streamlit as st

from medvit.viewer import widgets as w

st.set_page_config(page_title="medvit viewer", layout="wide")
w.remove_old_uploads()
st.title("medvit viewer")
st.warning(w.NOT_CLINICAL + " The pages show patient data: keep the viewer on localhost or behind a reverse "
           "proxy with authentication (see the README).")
st.markdown("""
Look at what medvit's bundles produced, case by case and across a cohort. Each page shows
sample results until you open a study in its sidebar: the output folder of a bundle run, or an
uploaded file (NIfTI, DICOM file, DICOM series as a zip, PNG / JPEG).
""")
for page, what in (
    ("volume", "Brain tumour: Swin UNETR TC / WT / ET on MRI, three planes, window presets, volumes, voxel probe"),
    ("fundus", "Fundus: vessels, optic disc, zone B, skeleton points and PVBM biomarkers, CSV download"),
    ("cxr", "Chest X-ray: 14 finding probabilities against a threshold, saliency overlay"),
    ("recon", "Reconstruction: zero-filled vs SENSE vs reference, error maps, PSNR / SSIM / NMSE"),
    ("cohort", "Cohort: sortable, filterable table, distributions per group, failed cases, click-through"),
):
    st.page_link(w.PAGE_FILES[page], label=what)
