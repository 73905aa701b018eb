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
show_overlay = st.sidebar.checkbox("Overlay", key=w.synced("overlay", True))
vessels = st.sidebar.checkbox("Vessel mask", key=w.synced("vessels", True), disabled=not show_overlay)
skeleton = st.sidebar.checkbox("Skeleton (centre lines)", key=w.synced("skeleton", False), disabled=not show_overlay)
points = st.sidebar.checkbox("Skeleton end / branch points", key=w.synced("points", True), disabled=not show_overlay)

picture, table = st.columns([3, 2])
with picture:
    from medvit.viewer.fundus import biomarker_unit, legend_entries

    st.image(analysis.picture(vessels, points, show_overlay, skeleton), caption=name)
    if show_overlay:  # the key: a swatch in each colour drawn (fixed text, no user input in this HTML)
        swatch = ('<span style="display:inline-block;width:0.9em;height:0.9em;border:1px solid #888;'
                  'background:rgb{};margin:0 0.3em 0 0.9em;vertical-align:middle"></span>{}')
        st.markdown("**Key:**" + "".join(swatch.format(rgb, label) for label, rgb in legend_entries(analysis.masks.has_av)),
                    unsafe_allow_html=True)
with table:
    st.subheader("Biomarkers")
    values = row.drop(labels=[c for c in ("settings_hash", "input_hash") if c in row.index]).to_dict() \
        if row is not None else {"image": name, **analysis.row}
    x, y, r = analysis.disc
    st.markdown(f"Optic disc at (x {x:.0f}, y {y:.0f}) px, radius **{r:.1f} px**")
    scale = values.get("pixel_size_um")
    st.caption(f"Pixel size {float(scale):.2f} µm: sizes also in mm." if scale == scale and scale is not None else
               "Sizes in pixels: the pixel size is not known (give the run --pixel_size_um or --fov_mm for mm).")
    frame = pd.DataFrame({"biomarker": list(values), "value": [str(v) if isinstance(v, str) else f"{float(v):.6g}"
                                                                if v == v else "" for v in values.values()],
                          "unit": [biomarker_unit(name) for name in values]})
    st.dataframe(frame, hide_index=True, height="content")  # every row, no inner scrolling
    st.download_button("Download as CSV", pd.DataFrame([values]).to_csv(index=False).encode(),
                       file_name=f"{name.rsplit('.', 1)[0]}_biomarkers.csv", mime="text/csv")
