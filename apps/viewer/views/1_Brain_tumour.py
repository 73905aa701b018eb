"""Brain tumour page: a Swin UNETR case (or any volume) in three planes with the TC / WT / ET overlay."""

import pandas as pd
import streamlit as st

from medvit.viewer import widgets as w
from medvit.viewer.display import (AUTO_WINDOW, PLANES, REGIONS, apply_window, overlay, plane_slice, probe,
                                   window_names)
from medvit.viewer.figures import slice_figure

PAGE = "volume"
w.header("Brain tumour segmentation", "Swin UNETR (BraTS TC / WT / ET).")


@st.cache_resource(show_spinner=False, max_entries=4)
def load_case(case_dir: str, seg_path: str):
    from medvit.viewer.volume import volume_from_case

    return volume_from_case(case_dir, seg_path)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_image(path: str):
    from medvit.io import read_image
    from medvit.viewer.volume import volume_from_image

    array, meta = read_image(path)
    return volume_from_image(array, meta)


@st.cache_data(show_spinner=False, max_entries=16)
def tags(path: str, series_uid):
    from medvit.viewer.studies import dicom_tags

    return pd.DataFrame(dicom_tags(path, series_uid))


study = w.open_study(
    PAGE, bundle="brats_swin_unetr_segmentation", upload_types=["nii", "gz", "dcm", "zip"],
    upload_label="NIfTI, DICOM file, or DICOM series as .zip",
    upload_prompt="Upload a NIfTI file, a DICOM file, or a zip of one DICOM series in the sidebar.",
    making="Making the sample once: training a tiny Swin UNETR on synthetic brain cases, then segmenting two "
           "cases (a few minutes of CPU)...", inputs="Cases")
row = study.row
with w.readable_errors(), st.spinner(f"Reading {study.name}..."):
    if row is None:
        view = load_image(str(study.path))
    else:
        view = load_case(str(study.path), str(study.output.table_path.parent / row["segmentation"]))

# --- controls -----------------------------------------------------------------------------------------
names = list(view.channels)
shape = view.shape
st.sidebar.subheader("Display")
channel = st.sidebar.selectbox("Series", names, index=names.index("flair") if "flair" in names else 0, key="channel")
volume = view.channels[channel]
preset = st.sidebar.selectbox("Window", window_names(view.meta if channel == names[0] else None), key="preset")
centre0, width0 = view.window(preset, channel)
centre = st.sidebar.number_input("Window centre", value=float(round(centre0, 2)), key=f"centre_{preset}_{channel}")
width = st.sidebar.number_input("Window width", value=float(round(width0, 2)), min_value=1e-3,
                                key=f"width_{preset}_{channel}")
labels = view.labels
if labels is not None:
    st.sidebar.subheader("Tumour overlay")
    shown = [r for r in REGIONS if st.sidebar.checkbox(f"{r}: {REGIONS[r]['name']}", value=True, key=f"show_{r}")]
    opacity = st.sidebar.slider("Opacity", 0.0, 1.0, 0.45, 0.05, key="opacity")
    style = st.sidebar.radio("Style", ["fill", "outline"], horizontal=True, key="style")
else:
    shown, opacity, style = [], 0.0, "fill"
start = view.start

st.sidebar.subheader("Position (linked slices)")
i = st.sidebar.slider("Sagittal slice (x)", 0, shape[0] - 1, int(start[0]), key="pos_x") if shape[0] > 1 else 0
j = st.sidebar.slider("Coronal slice (y)", 0, shape[1] - 1, int(start[1]), key="pos_y") if shape[1] > 1 else 0
k = st.sidebar.slider("Axial slice (z)", 0, shape[2] - 1, int(start[2]), key="pos_z") if shape[2] > 1 else 0
position = (i, j, k)

# --- three planes -------------------------------------------------------------------------------------
planes = PLANES if shape[2] > 1 else ("axial",)
columns = st.columns(len(planes))
for column, plane in zip(columns, planes):
    sl = plane_slice(volume, view.spacing, plane, position)
    label_slice = plane_slice(labels, view.spacing, plane, position).image if labels is not None else None
    rgb = overlay(apply_window(sl.image, centre, width), label_slice, shown, opacity, style)
    column.pyplot(slice_figure(sl, rgb, f"{plane} · {channel}", legend=bool(shown) and plane == planes[0]),
                  clear_figure=True)

# --- numbers ------------------------------------------------------------------------------------------
left, right = st.columns([1, 1])
with left:
    if row is not None:
        st.subheader("Tumour volumes")
        metrics = st.columns(3)
        for metric, region in zip(metrics, ("wt", "tc", "et")):
            colour = "#%02x%02x%02x" % REGIONS[region.upper()]["colour"]
            metric.metric(f"{region.upper()} ({REGIONS[region.upper()]['name']})", f"{float(row[f'{region}_ml']):.1f} mL")
            metric.markdown(f"<span style='color:{colour}'>■</span> overlay colour", unsafe_allow_html=True)
        st.caption(f"necrosis / non-enhancing core {float(row['ncr_ml']):.1f} mL · oedema {float(row['ed_ml']):.1f} mL"
                   f" · spacing {row['spacing_mm']} mm · QC: {row['qc_flags'] or 'none'}")
with right:
    st.subheader("Voxel probe")
    found = probe(view.channels, labels, view.affine, position)
    lines = [f"voxel (x, y, z) **{found['voxel']}** · RAS **{found['ras_mm']}** mm"]
    lines.append(" · ".join(f"{name} {value:.4g}" for name, value in found["values"].items()))
    if "label" in found:
        lines.append(f"label **{found['label']}** ({found['label_name']})")
    st.markdown("  \n".join(lines))

# --- two series side by side --------------------------------------------------------------------------
if len(names) > 1:
    st.subheader("Two series side by side")
    a, b = st.columns(2)
    first = a.selectbox("Left", names, index=names.index("t1ce") if "t1ce" in names else 0, key="left")
    second = b.selectbox("Right", names, index=names.index("flair") if "flair" in names else 1, key="right")
    for column, name in ((a, first), (b, second)):
        sl = plane_slice(view.channels[name], view.spacing, "axial", position)
        rgb = overlay(apply_window(sl.image, *view.window(AUTO_WINDOW, name)), None)
        column.pyplot(slice_figure(sl, rgb, f"axial · {name}", size=3.2), clear_figure=True)

# --- DICOM header -------------------------------------------------------------------------------------
if view.dicom:
    with st.expander("DICOM tags"):
        series = st.selectbox("Series", list(view.dicom), key="tag_series")
        with w.readable_errors():
            st.dataframe(tags(str(view.dicom[series][0]), view.dicom[series][1]), hide_index=True)
