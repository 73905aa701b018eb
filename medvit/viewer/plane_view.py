"""The brain page's three linked planes as one browser element: pictures that scroll through
slices under the mouse wheel and report the voxel clicked (as OHIF or Slicer do).

The pictures are the viewer's matplotlib figures (mm axes, crosshair) as PNG; the browser side
is a Streamlit ``components.v2`` element (:func:`medvit.viewer.widgets.plane_viewer`) whose
JavaScript is here. It only reports events: a wheel turn as ``scroll`` ``{plane, steps}`` (a
step per notch; turned up, away from the user, to the next higher slice: superior, anterior or
towards the patient's left), a click on a picture as ``probe`` ``{plane, u, v}`` (fractions of
the image's width and height, from its top left), which :func:`~medvit.viewer.display.scrolled`
and :func:`~medvit.viewer.display.clicked` turn into a new position. Every number it shows
comes from Python, so what is drawn and what is written are the same values.
"""

from __future__ import annotations

import base64

from medvit.viewer.display import PLANE_AXIS, REGIONS
from medvit.viewer.figures import figure_png

AXIS_NAMES = "xyz"


def panel(plane: str, figure, position, shape) -> dict:
    """One plane's picture and what the page says about it.

    Args:
        plane: "axial", "coronal" or "sagittal".
        figure: its :func:`~medvit.viewer.figures.slice_figure`.
        position, shape: the (i, j, k) shown and the volume's shape, for the caption.
    """
    png, box = figure_png(figure)
    axis = PLANE_AXIS[plane]
    index, count = int(position[axis]), int(shape[axis])
    return {
        "plane": plane,
        "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "box": list(box),
        "slice": index,
        "caption": f"{plane} slice {AXIS_NAMES[axis]} = {index} (of 0-{count - 1})",
    }


def legend(regions) -> list[dict]:
    """The overlay's key: each shown region's name and its exact drawing colour."""
    return [{"name": r, "label": f"{r}: {REGIONS[r]['name']}",
             "colour": "#{:02x}{:02x}{:02x}".format(*REGIONS[r]["colour"])}
            for r in regions]


def view_data(panels: list[dict], header: str, attributes: dict, regions=(), footer: str = "") -> dict:
    """What the element draws: a header line, the overlay's key, the panels and a footer line
    (the probe); ``attributes`` are set as ``data-*`` on its root (what the page applied, for
    tests and tools to read)."""
    return {"panels": panels, "header": header, "footer": footer, "legend": legend(regions),
            "attributes": {k: str(v) for k, v in attributes.items()}}


def probe_line(found: dict, channel: str) -> str:
    """One line of what :func:`~medvit.viewer.display.probe` found, for the shown channel."""
    x, y, z = found["voxel"]
    line = f"probe: x {x}, y {y}, z {z} · {channel} {found['values'][channel]:.4g}"
    if "label" in found:
        line += f" · label {found['label']} ({found['label_name']})"
    return line


# The user's strings (case and series names) are set as text, never as HTML.
JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector(".medvit-planes");
  if (!root) {
    root = document.createElement("div");
    root.className = "medvit-planes";
    parentElement.appendChild(root);
  }
  root.replaceChildren();
  for (const [name, value] of Object.entries(data.attributes || {})) root.dataset[name] = value;
  const header = document.createElement("div");
  header.className = "header";
  header.textContent = data.header || "";
  root.appendChild(header);
  if ((data.legend || []).length) {
    const key = document.createElement("div");
    key.className = "legend";
    for (const item of data.legend) {
      const entry = document.createElement("span");
      entry.className = "entry";
      entry.dataset.region = item.name;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = item.colour;
      swatch.dataset.colour = item.colour;
      entry.append(swatch, document.createTextNode(item.label));
      key.appendChild(entry);
    }
    root.appendChild(key);
  }
  const grid = document.createElement("div");
  grid.className = "grid";
  grid.style.gridTemplateColumns = `repeat(${data.panels.length}, minmax(0, 1fr))`;
  root.appendChild(grid);
  const timers = {};
  for (const panel of data.panels) {
    const figure = document.createElement("figure");
    figure.dataset.plane = panel.plane;
    figure.dataset.slice = panel.slice;
    const img = document.createElement("img");
    img.src = panel.src;
    img.alt = panel.caption;
    img.draggable = false;
    img.dataset.box = panel.box.join(",");
    const caption = document.createElement("figcaption");
    caption.textContent = panel.caption;
    figure.append(caption, img);  // the slice number above: level across planes of different heights
    grid.appendChild(figure);
    // wheel: one slice per notch, sent once the wheel rests (a trackpad fires dozens of events)
    let pending = 0;
    img.addEventListener("wheel", (event) => {
      if (!event.deltaY) return;
      event.preventDefault();
      pending += event.deltaY < 0 ? 1 : -1;
      clearTimeout(timers[panel.plane]);
      timers[panel.plane] = setTimeout(() => {
        const steps = pending;
        pending = 0;
        if (steps) setTriggerValue("scroll", { plane: panel.plane, steps: steps, at: Date.now() });
      }, 150);
    }, { passive: false });
    img.addEventListener("click", (event) => {
      const rect = img.getBoundingClientRect();
      const [left, top, right, bottom] = panel.box;
      const u = ((event.clientX - rect.left) / rect.width - left) / (right - left);
      const v = ((event.clientY - rect.top) / rect.height - top) / (bottom - top);
      if (u >= 0 && u <= 1 && v >= 0 && v <= 1) {
        setTriggerValue("probe", { plane: panel.plane, u: u, v: v, at: Date.now() });
      }
    });
  }
  const footer = document.createElement("div");
  footer.className = "footer";
  footer.textContent = data.footer || "";
  root.appendChild(footer);
  return () => Object.values(timers).forEach(clearTimeout);
}
"""

CSS = """
.medvit-planes { font-family: var(--st-font, sans-serif); color: var(--st-text-color, inherit); }
.medvit-planes .header { font-size: 0.95rem; margin-bottom: 0.3rem; }
.medvit-planes .legend { display: flex; gap: 1.2rem; font-size: 0.85rem; margin-bottom: 0.4rem; }
.medvit-planes .swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.35em;
                         vertical-align: -0.1em; border: 1px solid #0003; }
.medvit-planes .grid { display: grid; gap: 0.6rem; }
.medvit-planes figure { margin: 0; max-width: 720px; }
.medvit-planes .footer { font-size: 0.9rem; margin-top: 0.3rem; }
.medvit-planes img { width: 100%; height: auto; display: block; cursor: crosshair; }
.medvit-planes figcaption { font-size: 0.8rem; text-align: center; opacity: 0.8; }
"""
