"""Reconstruction page: zero-filled vs SENSE vs VarNet vs the fully sampled reference, error maps,
PSNR / SSIM / NMSE, the sampling mask, and a frame slider for cine."""

import pandas as pd
import streamlit as st

from medvit.viewer import widgets as w

PAGE = "recon"
w.header("Cardiac MR reconstruction", "Undersampled multi-coil k-space (CMRxRecon mask) reconstructed each way and "
         "scored against the fully sampled reference as the challenge scores.")


@st.cache_data(show_spinner=False, max_entries=4)
def kspace(path: str, z: int):
    """(frames, coils, ky, kx) k-space and its pixel size (ky, kx) in mm (None: a file, which has none)."""
    from medvit.viewer.recon import read_kspace_slice, sample_kspace

    return sample_kspace() if not path else (read_kspace_slice(path, z), None)


@st.cache_data(show_spinner=False, max_entries=8)
def comparison(path: str, z: int, acceleration: int, iterations: int, checkpoint: str, network_json: str):
    from medvit.viewer.recon import compare, varnet_network

    varnet = varnet_network(checkpoint, network_json) if checkpoint else None
    data, pixel_mm = kspace(path, z)
    return compare(data, acceleration, iterations, varnet=varnet, pixel_mm=pixel_mm)


source = st.sidebar.radio("Show", [w.SAMPLE, "Fully sampled k-space file"], key=w.synced("recon_source", w.SAMPLE))
path, z = "", 0
if source != w.SAMPLE:
    path = st.sidebar.text_input("CMRxRecon FullSample .mat (v7.3)", key=w.synced("recon_path", "")).strip()
    z = int(st.sidebar.number_input("Slice", min_value=0, step=1, key=w.synced("recon_slice", 0)))
    if not path:
        st.info("Enter the path of a fully sampled CMRxRecon file (`FullSample/P###/cine_sax.mat`) in the sidebar.")
        st.stop()
else:
    st.info("Sample: a synthetic short-axis cardiac cine slice (the thorax phantom of "
            "`medvit.cmrxrecon.cardiac_phantom`, its left ventricle contracting over 6 frames), 4 coils, "
            "k-space of 96 × 192 lines with the readout 2× oversampled as in CMRxRecon's files.")
acceleration = st.sidebar.selectbox("Acceleration R", [4, 8, 10], key=w.synced("acceleration", 8))
iterations = st.sidebar.slider("SENSE conjugate-gradient iterations", 1, 30, key=w.synced("iterations", 10))
from medvit.viewer.recon import toy_varnet  # noqa: E402

checkpoint, network_json = w.network_choice(
    "VarNet", "varnet", toy_varnet, checkpoint_label="VarNet checkpoint (.pt / .ckpt)",
    arguments=lambda: st.sidebar.text_input("VarNet arguments (JSON)", key=w.remembered("varnet_args", "{}"),
                                            help='e.g. {"num_cascades": 12, "chans": 18, "sens_chans": 8}'),
    help="The toy network is trained once on first use (a few CPU minutes) by `medvit demo`'s CMRxRecon step; "
         "a checkpoint file is one the bundle's train.json wrote, or a fastMRI VarNet release.")
with w.readable_errors(), st.spinner("Reconstructing..."):
    result = comparison(path, z, int(acceleration), int(iterations), checkpoint, network_json)

frames = result.images["reference"].shape[0]
# a frame of another study (file, slice, frame count) is not carried over: the key names the study
study = w.identity_key(path, z, result.images["reference"].shape)
frame = st.slider("Frame", 0, frames - 1, key=w.synced(f"frame_{study}", 0)) if frames > 1 else 0
from medvit.viewer.figures import recon_figure  # noqa: E402

means = result.mean_scores()
for column, (method, mean) in zip(st.columns(len(means)), means.items()):
    column.metric(f"{method}: mean PSNR", f"{mean['psnr']:.2f} dB", help=f"SSIM {mean['ssim']:.3f}, NMSE {mean['nmse']:.4f}")
st.pyplot(recon_figure(result, frame), clear_figure=True)
if "VarNet" not in result.images:
    st.caption("Choose a VarNet in the sidebar (the demo's toy network or a checkpoint) to add it to the comparison.")

st.subheader(f"Scores, frame {frame} and mean over {frames} frame(s)")
rows = []
for method, scores in result.scores.items():
    mean = means[method]
    rows.append({"method": method, "PSNR (dB)": scores[frame]["psnr"], "SSIM": scores[frame]["ssim"],
                 "NMSE": scores[frame]["nmse"], "mean PSNR (dB)": mean["psnr"], "mean SSIM": mean["ssim"],
                 "mean NMSE": mean["nmse"]})
st.dataframe(pd.DataFrame(rows).round(4), hide_index=True)
from medvit.recon.masks import CMRX_ACS_LINES  # noqa: E402

st.caption(f"Mask: {int(result.mask.sum())} of {result.mask.size} phase-encoding lines sampled "
           f"(R = {result.acceleration}, {CMRX_ACS_LINES} calibration lines).")
if result.pixel_mm:
    st.caption(f"Images: the readout's 2× oversampling cropped; pixels {result.pixel_mm[0]:.2f} × "
               f"{result.pixel_mm[1]:.2f} mm (phase × readout), drawn at their aspect.")
else:
    st.caption("Images: the readout's 2× oversampling cropped; CMRxRecon files carry no pixel size, so pixels are "
               "drawn square.")
