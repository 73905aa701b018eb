"""Fundus page: vessels (arteries red / veins blue with an A/V mask), optic disc, zone B, skeleton
points and the PVBM biomarkers of one photograph."""

import pandas as pd
import streamlit as st

from medvit.viewer import widgets as w

PAGE = "fundus"
PHOTO_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "dcm"]
w.header("Retinal vessel biomarkers", "PVBM biomarkers of a fundus photograph.")


@st.cache_resource(show_spinner=False, max_entries=4)
def analyse(path: str, mtime: float):
    from medvit.viewer.fundus import analyse_photo

    return analyse_photo(path)


study = w.open_study(
    PAGE, bundle="pvbm_vessel_biomarkers", upload_types=PHOTO_TYPES,
    upload_label="Fundus photograph (PNG, JPEG, TIFF or DICOM)",
    upload_prompt="Upload a fundus photograph in the sidebar; it is measured here with the bundle's pipeline "
                  "(classical vessel segmentation).",
    making="Making the sample once: the retina photograph of scikit-image through the PVBM bundle...",
    inputs="Photographs")
row, name = study.row, study.name
with w.readable_errors(), st.spinner(f"Measuring {name}..."):
    analysis = analyse(str(study.path), study.path.stat().st_mtime)

st.sidebar.subheader("Layers")
show_overlay = st.sidebar.checkbox("Overlay", value=True, key="overlay")
vessels = st.sidebar.checkbox("Vessel mask", value=True, key="vessels", disabled=not show_overlay)
skeleton = st.sidebar.checkbox("Skeleton (centre lines)", value=False, key="skeleton", disabled=not show_overlay)
points = st.sidebar.checkbox("Skeleton end / branch points", value=True, key="points", disabled=not show_overlay)

picture, table = st.columns([3, 2])
with picture:
    legend = ("arteries red, veins blue" if analysis.masks.has_av else "vessels yellow") + \
        "; optic disc green; zone B rings (2r, 3r) cyan; skeleton black; start cyan, end white, branch magenta points"
    st.image(analysis.picture(vessels, points, show_overlay, skeleton), caption=f"{name}: {legend}")
with table:
    st.subheader("Biomarkers")
    values = row.drop(labels=[c for c in ("settings_hash", "input_hash") if c in row.index]).to_dict() \
        if row is not None else {"image": name, **analysis.row}
    x, y, r = analysis.disc
    st.markdown(f"Optic disc at (x {x:.0f}, y {y:.0f}) px, radius **{r:.1f} px**")
    frame = pd.DataFrame({"biomarker": list(values), "value": [str(v) if isinstance(v, str) else f"{float(v):.6g}"
                                                                if v == v else "" for v in values.values()]})
    st.dataframe(frame, hide_index=True, height=420)
    st.download_button("Download as CSV", pd.DataFrame([values]).to_csv(index=False).encode(),
                       file_name=f"{name.rsplit('.', 1)[0]}_biomarkers.csv", mime="text/csv")
