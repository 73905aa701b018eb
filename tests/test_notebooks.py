"""Every quick-start notebook runs top to bottom, so none of them rots."""

from pathlib import Path

import pytest

# Notebooks that train a network for minutes run with the slow tests (`make test-slow`); the
# default suite keeps the others (each under ~15 s).
# each bundle's notebook (10-15 s each) runs with the slow tests too: the default suite keeps the quickstart
SLOW = {"brats_swin_unetr_segmentation.ipynb",  # trains Swin UNETR 8 epochs: ~170 s on 2 cores
        "cmrxrecon_varnet_reconstruction.ipynb", "mae_thorax_classification.ipynb",
        "pvbm_vessel_biomarkers.ipynb", "uni4eye_ophthalmic_mim.ipynb"}
NOTEBOOKS = [pytest.param(p, id=p.name, marks=pytest.mark.slow if p.name in SLOW else ())
             for p in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))]


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_executes(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # the kernel inherits the environment: streamlit's AppTest (viewer tests) sets MPLBACKEND=Agg,
    # which would turn off the notebook's inline figures
    monkeypatch.delenv("MPLBACKEND", raising=False)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "a quick-start should show its result as a picture"
