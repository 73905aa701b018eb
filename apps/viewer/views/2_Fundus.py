"""Fundus page: vessels (arteries red / veins blue with an A/V mask), optic disc, zone B, skeleton
points and the PVBM biomarkers of one photograph."""

import contextlib

import pandas as pd
import streamlit as st

from medvit.errors import MedvitError
from medvit.viewer import widgets as w
from medvit.viewer.qc import is_qc_column, qc_measures, refused_as_not_fundus

PAGE = "fundus"
PHOTO_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "dcm"]
w.header("Retinal vessel biomarkers", "PVBM biomarkers of a fundus photograph.")


@st.cache_data(show_spinner=False, max_entries=8)
def photo_check(path: str, mtime: float):
    from medvit.viewer.fundus import photo_quality

    return photo_quality(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def analyse(path: str, mtime: float, classify_av: bool = False):
    from medvit.viewer.fundus import analyse_photo

    return analyse_photo(path, classify_av=classify_av)


study = w.open_study(
    PAGE, bundle="pvbm_vessel_biomarkers", upload_types=PHOTO_TYPES,
    upload_label="Fundus photograph (PNG, JPEG, TIFF or DICOM)",
    upload_prompt="Upload a fundus photograph in the sidebar; it is measured here with the bundle's pipeline "
                  "(classical vessel segmentation).",
    making="Making the sample once: the retina photograph of scikit-image through the PVBM bundle...",
    inputs="Photographs", include_failed=True)
row, name = study.row, study.name
ACCEPTED = ("Accepted: a fundus photograph (a round field of view on a dark surround, the colours of a retina), "
            "measured by the PVBM bundle's own check.")


def refused(error: str, not_fundus: bool, photo, quality) -> None:
    """A photo without biomarkers: the photo (when it reads), why, and its QC verdict and measures
    (measured now: an error row has none); the page stops."""
    picture, verdict = st.columns([3, 2])
    if photo is not None:
        picture.image(photo, caption=name)
    with verdict:
        if not_fundus:
            st.error(f"**{name}: rejected, not a fundus photograph.** No biomarkers were measured; the checks "
                     "that failed are below.", icon=":material/block:")
        else:
            st.error(f"**{name}: no biomarkers.** {error}", icon=":material/error:")
        if quality is not None:
            w.qc_panel(qc_measures(quality.measures), quality.problems, ACCEPTED)
    st.stop()


if row is None or row["status"] != "ok":  # an upload, or a failed row: is it a fundus photograph at all?
    photo = quality = None
    # an upload that does not read is a message; a failed row's photo may not read either (its error says why)
    with w.readable_errors() if row is None else contextlib.suppress(MedvitError, OSError), \
            st.spinner(f"Checking {name}..."):
        photo, quality = photo_check(str(study.path), study.path.stat().st_mtime)
    if row is not None:
        refused(row["error"], refused_as_not_fundus(row["error"]), photo, quality)
    if quality.problems:
        refused("", True, photo, quality)
st.sidebar.subheader("Arteries and veins")
if row is not None and row.get("av_source") == "given":
    classify = False
    st.sidebar.caption("From the run's artery / vein masks.")
else:
    classify = st.sidebar.checkbox(
        "Classify from the photo", key=w.synced("classify_av", False),
        help="Classical artery / vein split of the vessels (the bundle's classify_av): adds CRAE, CRVE and AVR. "
             "About 3 s per photo; agrees with VascX's A/V network on 80 % of vessel pixels, AVR within 0.16 "
             "on its six sample photos: a screening estimate.")
with w.readable_errors(), st.spinner(f"Measuring {name}..."):
    analysis = analyse(str(study.path), study.path.stat().st_mtime, classify)

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
    if classify:  # a run's row without A/V columns: the classified ones (CRAE, CRVE, AVR, per A/V) added
        values.update({k: v for k, v in analysis.row.items() if k not in values})
    if values.get("av_source") == "classified":
        st.caption("Arteries and veins classified from the photo (classical): CRAE, CRVE and AVR are screening "
                   "estimates.")
    x, y, r = analysis.disc
    st.markdown(f"Optic disc at (x {x:.0f}, y {y:.0f}) px, radius **{r:.1f} px**")
    scale = values.get("pixel_size_um")
    st.caption(f"Pixel size {float(scale):.2f} µm: sizes also in mm." if scale == scale and scale is not None else
               "Sizes in pixels: the pixel size is not known (give the run --pixel_size_um or --fov_mm for mm).")
    biomarkers = {k: v for k, v in values.items() if not is_qc_column(k)}  # the QC measures: their own panel
    frame = pd.DataFrame({"biomarker": list(biomarkers),
                          "value": [str(v) if isinstance(v, str) else f"{float(v):.6g}" if v == v else ""
                                    for v in biomarkers.values()],
                          "unit": [biomarker_unit(name) for name in biomarkers]})
    st.dataframe(frame, hide_index=True, height="content")  # every row, no inner scrolling
    st.download_button("Download as CSV", pd.DataFrame([values]).to_csv(index=False).encode(),
                       file_name=f"{name.rsplit('.', 1)[0]}_biomarkers.csv", mime="text/csv")
    w.qc_panel(qc_measures(values), [], ACCEPTED)
