"""Brain tumour page: a Swin UNETR case (or any volume) in three planes with the TC / WT / ET overlay.

Every control is keyed by the study it belongs to (and the series, for the window): opening
another case or series gives its own defaults (window, slices through the tumour), never the
last one's values under a label that no longer matches them.
"""

import pandas as pd
import streamlit as st

from medvit.viewer import widgets as w
from medvit.viewer.display import (AUTO_WINDOW, CUSTOM_WINDOW, OVERLAY_STYLES, PLANES, REGIONS, apply_window,
                                   clicked, overlay, plane_slice, probe, scrolled)
from medvit.viewer.figures import slice_figure
from medvit.viewer.plane_view import panel, probe_line, view_data
from medvit.viewer.qc import flags_of, qc_measures

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
flags = flags_of(row.get("qc_flags")) if row is not None else []
if flags:  # before the planes: what they show may not be a tumour
    st.warning(f"Quality control flagged this case ({len(flags)} flag(s), under *Quality control* below): "
               + "; ".join(flags), icon=":material/warning:")
with w.readable_errors(), st.spinner(f"Reading {study.name}..."):
    if row is None:
        view = load_image(str(study.path))
    else:
        view = load_case(str(study.path), str(study.output.table_path.parent / row["segmentation"]))

# --- controls -----------------------------------------------------------------------------------------
scope = w.identity_key(str(study.path), study.name, str(study.output.table_path) if study.output else "")
names = list(view.channels)
shape = view.shape
st.sidebar.subheader("Display")
channel = st.sidebar.selectbox("Series", names, format_func=view.label,
                               key=w.synced(f"series_{scope}", "flair" if "flair" in names else names[0]))
volume = view.channels[channel]


def significant(value: float) -> float:
    """A window value as the sidebar shows it (4 significant digits), so shown = applied."""
    return float(f"{value:.4g}")


def window_controls(name: str) -> tuple[str, float, float]:
    """Preset, centre and width of series ``name``: choosing a preset sets the two numbers, typing
    a number makes the preset "custom", so the three always say what is applied."""
    preset_key, centre_key, width_key = (f"window_{part}_{scope}_{name}" for part in ("preset", "centre", "width"))

    def preset_window(preset):
        return tuple(significant(v) for v in view.window(preset, name))

    def apply_preset():
        if st.session_state[preset_key] != CUSTOM_WINDOW:
            st.session_state[centre_key], st.session_state[width_key] = preset_window(st.session_state[preset_key])

    def typed():
        preset, typed_window = st.session_state[preset_key], (st.session_state[centre_key], st.session_state[width_key])
        if preset != CUSTOM_WINDOW and typed_window != preset_window(preset):
            st.session_state[preset_key] = CUSTOM_WINDOW

    presets = [*view.window_names(name), CUSTOM_WINDOW]
    centre, width = preset_window(presets[0])  # a series opens on its first window
    st.sidebar.selectbox("Window", presets, key=w.synced(preset_key, presets[0]), on_change=apply_preset)
    st.sidebar.number_input("Window centre", key=w.synced(centre_key, centre), format="%g", on_change=typed)
    st.sidebar.number_input("Window width", key=w.synced(width_key, width), min_value=1e-6, format="%g",
                            on_change=typed)
    return st.session_state[preset_key], st.session_state[centre_key], st.session_state[width_key]


preset, centre, width = window_controls(channel)
labels = view.labels
if labels is not None:
    st.sidebar.subheader("Tumour overlay")
    shown = [r for r in REGIONS if st.sidebar.checkbox(f"{r}: {REGIONS[r]['name']}", key=w.synced(f"show_{r}", True))]
    style = st.sidebar.radio("Style", OVERLAY_STYLES, horizontal=True, key=w.synced("overlay_style", OVERLAY_STYLES[0]),
                             help="Drawn in exactly the key's colours: outlines keep the image visible inside.")
else:
    shown, style = [], OVERLAY_STYLES[0]

# linked slices: a new study opens through its tumour (else its centre); the wheel and clicks on
# the planes move them (callbacks, before the sliders are drawn)
position_keys = [w.synced(f"position_{axis}_{scope}", int(value)) for axis, value in zip("xyz", view.start)]


def current_position() -> tuple[int, int, int]:
    return tuple(int(st.session_state[key]) for key in position_keys)


def move_to(position) -> None:
    for key, value in zip(position_keys, position):
        st.session_state[key] = int(value)


viewer_key = f"planes_{scope}"


def on_scroll() -> None:
    event = st.session_state[viewer_key].get("scroll")
    if event:
        move_to(scrolled(current_position(), event["plane"], event["steps"], shape))


def on_probe() -> None:
    event = st.session_state[viewer_key].get("probe")
    if event:
        move_to(clicked(current_position(), event["plane"], event["u"], event["v"], shape))


st.sidebar.subheader("Position (linked slices)")
for key, label, size in zip(position_keys, ("Sagittal slice (x)", "Coronal slice (y)", "Axial slice (z)"), shape):
    if size > 1:
        st.sidebar.slider(label, 0, size - 1, key=key)
position = current_position()

# --- three planes -------------------------------------------------------------------------------------
planes = PLANES if shape[2] > 1 else ("axial",)
panels = []
for plane in planes:
    sl = plane_slice(volume, view.spacing, plane, position)
    label_slice = plane_slice(labels, view.spacing, plane, position).image if labels is not None else None
    rgb = overlay(apply_window(sl.image, centre, width), label_slice, shown, style)
    panels.append(panel(plane, slice_figure(sl, rgb, f"{plane} · {channel}"), position, shape))
found = probe(view.channels, labels, view.affine, position)
applied = {"case": study.name, "series": view.label(channel), "preset": preset, "centre": f"{centre:g}",
           "width": f"{width:g}", "x": position[0], "y": position[1], "z": position[2]}
w.plane_viewer(view_data(panels, f"{study.name} · {view.label(channel)} · window {preset}: centre {centre:g}, "
                                 f"width {width:g} · scroll the wheel over a plane to move its slice, click to probe",
                         applied, shown, probe_line(found, channel)),
               key=viewer_key, on_scroll=on_scroll, on_probe=on_probe)

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
                   f" · spacing {row['spacing_mm']} mm")
        w.qc_panel(qc_measures(row), flags, "No QC flag: the input looks like BraTS data and the segmentation "
                   "lies inside the head, smaller than a brain.")
with right:
    st.subheader("Voxel probe")
    lines = [f"voxel (x, y, z) **{found['voxel']}** · RAS **{found['ras_mm']}** mm"]
    lines.append(" · ".join(f"{name} {value:.4g}" for name, value in found["values"].items()))
    if "label" in found:
        lines.append(f"label **{found['label']}** ({found['label_name']})")
    st.markdown("  \n".join(lines))

# --- two series side by side (smaller than the main planes) ---------------------------------------------
if len(names) > 1:
    st.subheader("Two series side by side")
    a, b, _ = st.columns([1, 1, 2])
    first = a.selectbox("Left", names, format_func=view.label,
                        key=w.synced(f"left_{scope}", "t1ce" if "t1ce" in names else names[0]))
    second = b.selectbox("Right", names, format_func=view.label,
                         key=w.synced(f"right_{scope}", "flair" if "flair" in names else names[1]))
    for column, name in ((a, first), (b, second)):
        sl = plane_slice(view.channels[name], view.spacing, "axial", position)
        rgb = overlay(apply_window(sl.image, *view.window(AUTO_WINDOW, name)), None)
        column.pyplot(slice_figure(sl, rgb, f"axial · {name}", size=3.2), clear_figure=True)

# --- DICOM header -------------------------------------------------------------------------------------
if view.dicom:
    with st.expander("DICOM tags"):
        series = st.selectbox("Series", list(view.dicom), format_func=view.label,
                              key=w.synced(f"tag_series_{scope}", next(iter(view.dicom))))
        with w.readable_errors():
            st.dataframe(tags(str(view.dicom[series][0]), view.dicom[series][1]), hide_index=True)
