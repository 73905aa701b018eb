"""Chest X-ray page: the radiograph (MONOCHROME1 shown bright = dense), the 14 finding
probabilities against a threshold, and the Grad-CAM saliency over the image."""

import json

import numpy as np
import streamlit as st

from medvit.thorax.phantoms import CHESTXRAY14_LABELS

from medvit.viewer import widgets as w

PAGE = "cxr"
IMAGE_TYPES = ["dcm", "png", "jpg", "jpeg"]
w.header("Chest X-ray findings", "ViT (MAE pre-trained) multi-label classification, ChestX-ray14 labels.")


@st.cache_data(show_spinner=False, max_entries=16)
def radiograph(path: str, mtime: float):
    """(H, W) display intensities in [0, 1], pixel size (mm) when known, and whether it was MONOCHROME1."""
    from medvit.io import read_image
    from monai.data.utils import affine_to_spacing
    from medvit.thorax.transforms import cxr_display_intensity

    image, meta = read_image(path)
    shown = cxr_display_intensity(image, meta).T
    spacing = affine_to_spacing(np.asarray(meta["affine"], dtype=np.float64), r=2)
    pixel_mm = (float(spacing[1]), float(spacing[0])) if meta.get("spacing_unit", "mm") == "mm" and meta.get(
        "kind", "").startswith("dicom") else None
    return shown, pixel_mm, bool(meta.get("inverted_monochrome1", False))


@st.cache_data(show_spinner=False, max_entries=16)
def saliency_map(path: str, mtime: float):
    from medvit.io import read_image

    array, _ = read_image(path)
    return np.asarray(array, np.float32).T / 255.0


@st.cache_data(show_spinner=False, max_entries=16)
def classified(path: str, mtime: float, checkpoint: str, network_json: str, output_dir: str) -> dict:
    """The bundle's row for one radiograph (14 probabilities, top finding, saliency PNG under ``output_dir``)."""
    from medvit.thorax.classify import classify_cxr

    return classify_cxr(path, output_dir=output_dir, network=json.loads(network_json), checkpoint=checkpoint,
                        saliency=True, device="cpu")


study = w.open_study(
    PAGE, bundle="mae_thorax_classification", upload_types=IMAGE_TYPES, upload_label="Chest X-ray (DICOM, PNG or JPEG)",
    upload_prompt="Upload a chest X-ray in the sidebar to look at it; findings come from a run of the "
                  "`mae_thorax_classification` bundle (open its output folder).",
    making="Making the sample once: chest X-rays through the bundle...", inputs="Radiographs")
row, name, output = study.row, study.name, study.output
labels, saliency_path = [], None
if output is not None:
    columns = list(output.table.columns)
    labels = columns[columns.index("error") + 1:columns.index("top_finding")]
with w.readable_errors():
    image, pixel_mm, inverted = radiograph(str(study.path), study.path.stat().st_mtime)

if row is None:  # an upload: classify it here with the demo's toy network or a checkpoint
    from medvit.viewer.samples import toy_cxr_classifier

    checkpoint, network_json = w.network_choice(
        "Classify with", "cxr_model", toy_cxr_classifier, checkpoint_label="Fine-tuned checkpoint (.pt / .pth)",
        arguments=lambda: json.dumps({"name": st.sidebar.selectbox(
            "Architecture", ["vit_small_patch16", "vit_base_patch16", "vit_large_patch16"],
            key=w.remembered("cxr_arch", "vit_small_patch16"))}),
        help="The toy network is trained once on first use (about a minute) by `medvit demo`'s chest X-ray step "
             "on phantoms: it shows the path, it knows no real disease.")
    if checkpoint:
        with w.readable_errors(), st.spinner("Classifying..."):
            row = classified(str(study.path), study.path.stat().st_mtime, checkpoint, network_json, str(w.upload_dir()))
        labels = list(CHESTXRAY14_LABELS)
        saliency_path = w.upload_dir() / row["saliency"] if row["saliency"] else None
elif isinstance(row.get("saliency"), str) and row["saliency"]:
    saliency_path = output.table_path.parent / row["saliency"]

heat = None
if saliency_path is not None and saliency_path.is_file() and st.sidebar.checkbox(
        "Saliency overlay", key=w.synced("saliency", True)):
    heat = saliency_map(str(saliency_path), saliency_path.stat().st_mtime)
    alpha = st.sidebar.slider("Saliency opacity", 0.0, 1.0, step=0.05, key=w.synced("saliency_alpha", 0.4))

from medvit.viewer.figures import image_figure, probability_chart  # noqa: E402

left, right = st.columns([1, 1])
with left:
    note = " (MONOCHROME1, inverted for display)" if inverted else ""
    title = f"{name}{note}" + (f" · saliency of {row['top_finding']}" if heat is not None else "")
    st.pyplot(image_figure(image, title, heat, alpha if heat is not None else 0.0, pixel_mm), clear_figure=True)
with right:
    if row is None:
        st.info("No findings yet for an uploaded image: choose a network in the sidebar (*Classify with*), or run "
                "the bundle on it and open its output folder.")
    else:
        threshold = st.slider("Decision threshold", 0.0, 1.0, step=0.01, key=w.synced("threshold", 0.5))
        probabilities = {label: float(row[label]) for label in labels}
        positive = [label for label, p in sorted(probabilities.items(), key=lambda kv: -kv[1]) if p >= threshold]
        st.markdown(f"Top finding **{row['top_finding']}** ({probabilities[row['top_finding']]:.3f}); "
                    f"**{len(positive)}** above the threshold: {', '.join(positive) or 'none'}")
        st.plotly_chart(probability_chart(probabilities, threshold), key="probabilities")
