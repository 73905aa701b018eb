"""medvit viewer: ``medvit viewer`` (or ``streamlit run apps/viewer/app.py`` from the repository root;
pages in ``apps/viewer/views/``).

The navigation is declared here (``st.navigation``) so that every entry has a title. The pages'
folder is not called ``pages/``: with one, Streamlit serves a link to a page without running this
script, and its automatic navigation names this script's entry after its file ("app")."""

import streamlit as st

from medvit.viewer import widgets as w

# (page, navigation title, what the home page says it shows)
PAGES = (
    ("volume", "Brain tumour", "Swin UNETR TC / WT / ET on MRI, three planes, window presets, volumes, voxel probe"),
    ("fundus", "Fundus", "vessels, optic disc, zone B, skeleton points and PVBM biomarkers, CSV download"),
    ("cxr", "Chest X-ray", "14 finding probabilities against a threshold, saliency overlay"),
    ("recon", "Cardiac MR reconstruction", "zero-filled vs SENSE vs reference, error maps, PSNR / SSIM / NMSE"),
    ("cohort", "Cohort", "sortable, filterable table, distributions per group, failed cases, click-through"),
)


def home() -> None:
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
    for page, title, what in PAGES:
        st.page_link(w.PAGE_FILES[page], label=f"{title}: {what}")


st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True)]
              + [st.Page(w.PAGE_FILES[page], title=title) for page, title, _ in PAGES]).run()
