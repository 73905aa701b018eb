"""The viewer's pictures: matplotlib for images (scale in mm), Plotly for charts.

One grey map for images, ``magma`` for error and saliency maps, and the region colours of
:data:`medvit.viewer.display.REGIONS` everywhere, so every page reads the same way.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from medvit.viewer.display import Slice  # noqa: E402

HEAT = "magma"


def slice_figure(sl: Slice, rgb: np.ndarray, title: str, crosshair: bool = True, size: float = 3.6) -> Figure:
    """A slice (already windowed / overlaid RGB) on millimetre axes, with the probe's crosshair.

    Figures are ``size`` inches wide and as tall as the slice needs, so that the planes shown side
    by side get the same scale of text."""
    aspect = (sl.extent[3] - sl.extent[2]) / max(sl.extent[1] - sl.extent[0], 1e-6)
    fig = Figure(figsize=(size, min(max(size * aspect, 0.5 * size), 2.0 * size) + 0.7), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(rgb, extent=sl.extent, origin="upper", interpolation="nearest")
    if crosshair:
        x, y = sl.crosshair
        ax.axvline(x, color="#00d8ff", lw=0.6, alpha=0.7)
        ax.axhline(y, color="#00d8ff", lw=0.6, alpha=0.7)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(sl.axes[0], fontsize=8)
    ax.set_ylabel(sl.axes[1], fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def figure_png(fig: Figure, dpi: int = 150) -> tuple[bytes, tuple[float, float, float, float]]:
    """The figure as PNG and where its (first) axes' image lies in it: (left, top, right, bottom)
    as fractions of the PNG's width and height, so that a click can be mapped to a voxel."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)  # not bbox_inches="tight": it would move the axes
    left, bottom, right, top = fig.axes[0].get_position().extents  # after drawing: the image's aspect applied
    return buffer.getvalue(), (float(left), float(1 - top), float(right), float(1 - bottom))


def image_figure(image: np.ndarray, title: str, heat: np.ndarray | None = None, heat_alpha: float = 0.4,
                 pixel_mm: tuple[float, float] | None = None, size: float = 5.0) -> Figure:
    """A 2-D picture (grey (H, W) in [0, 1] or RGB), optionally with a heat map over it; axes in mm
    when the pixel size is known, else in pixels."""
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.add_subplot()
    h, w = image.shape[:2]
    extent = (0, w * pixel_mm[1], h * pixel_mm[0], 0) if pixel_mm else None
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="antialiased")
    if heat is not None:
        shown = ax.imshow(heat, cmap=HEAT, alpha=heat_alpha, vmin=0, vmax=1, extent=extent)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="saliency")
    unit = "mm" if pixel_mm else "px"
    ax.set_xlabel(unit, fontsize=8)
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def recon_figure(comparison, frame: int) -> Figure:
    """Each method's magnitude (top) and its error against the reference (bottom) for one frame,
    the readout's oversampling cropped and the pixels drawn at their aspect (square when the
    pixel size is unknown)."""
    from medvit.viewer.recon import readout_crop

    methods = list(comparison.images)
    reference = comparison.shown("reference", frame)
    dy, dx = comparison.pixel_mm or (1.0, 1.0)
    aspect = dy / dx  # matplotlib's aspect: a pixel's height over its width
    height = min(max(2.6 * aspect * reference.shape[0] / reference.shape[1], 1.5), 4.0)
    fig = Figure(figsize=(2.9 * len(methods), 2 * height + 1.2), dpi=100)
    axes = fig.subplots(2, len(methods))
    scale = float(reference.max()) or 1.0
    errors = {m: readout_crop(comparison.error(m, frame)) for m in methods if m != "reference"}
    error_max = max(float(e.max()) for e in errors.values()) or 1.0
    error_image = None
    for column, method in enumerate(methods):
        image = comparison.shown(method, frame)
        axes[0, column].imshow(image / (float(image.max()) or 1.0) if method != "reference" else image / scale,
                               cmap="gray", vmin=0, vmax=1, aspect=aspect)
        title = method
        if method != "reference":
            s = comparison.scores[method][frame]
            title += f"\nPSNR {s['psnr']:.2f} dB · SSIM {s['ssim']:.3f}"
            error_image = axes[1, column].imshow(errors[method], cmap=HEAT, vmin=0, vmax=error_max, aspect=aspect)
            axes[1, column].set_title(f"|error| · NMSE {s['nmse']:.4f}", fontsize=9)
        else:
            axes[1, column].imshow(np.broadcast_to(comparison.mask[:, None], image.shape), cmap="gray", vmin=0, vmax=1,
                                   aspect=aspect)
            axes[1, column].set_title(f"mask: R={comparison.acceleration}, {int(comparison.mask.sum())} of "
                                      f"{comparison.mask.size} lines", fontsize=9)
        axes[0, column].set_title(title, fontsize=9)
        for row in (0, 1):
            axes[row, column].set_axis_off()
    if error_image is not None:
        fig.colorbar(error_image, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01, label="|error| (of max)")
    return fig


def probability_chart(probabilities: dict[str, float], threshold: float):
    """The findings' probabilities as a sorted horizontal bar chart with the decision threshold."""
    import plotly.graph_objects as go

    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    colours = ["#d62728" if p >= threshold else "#7f7f7f" for _, p in items]
    fig = go.Figure(go.Bar(x=[p for _, p in items], y=[k for k, _ in items], orientation="h", marker_color=colours,
                           text=[f"{p:.3f}" for _, p in items], textposition="outside"))
    fig.add_vline(x=threshold, line_dash="dash", line_color="#1f77b4", annotation_text=f"threshold {threshold:.2f}")
    fig.update_layout(xaxis_title="probability", xaxis_range=[0, 1.08], height=460, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def distribution_charts(table, column: str, group: str | None = None):
    """A histogram and a box plot of one numeric column, split by a group column when given."""
    import plotly.express as px

    data = table.dropna(subset=[column])
    if group:
        data = data.assign(**{group: data[group].astype(str)})
    hist = px.histogram(data, x=column, color=group, barmode="overlay", opacity=0.75, nbins=30,
                        hover_data=["image"] if "image" in data else None)
    box = px.box(data, x=group, y=column, points="all", hover_data=["image"] if "image" in data else None)
    for fig in (hist, box):
        fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10))
    return hist, box
