"""Small sample outputs for the viewer's tests, in the layout of the ``medvit demo`` steps the
viewer uses (:mod:`medvit.viewer.samples`), made once per test session.

They run the bundles' own cohort functions at small sizes: the real retina photograph
(``skimage.data.retina``, halved; its astronaut photo, refused as not a fundus photograph) through
the PVBM pipeline; a synthetic DICOM brain case at
5 mm and chest X-rays through Swin UNETR and the ViT with random weights (a trained toy
network takes minutes): their rows say so, and the pages show that warning, which the tests check.
"""

from pathlib import Path

TINY_VIT = {"name": "vit_tiny_patch16"}


def brain_tumour_step(folder: Path) -> list[str]:
    """One synthetic DICOM case (four series) at 5 mm through the Swin UNETR cohort function (one
    block per stage), and a case folder without its series (a failed row)."""
    from medvit.brats.synthetic import write_brats_dicom_case
    from medvit.brats.segment import run_brats_cohort

    cases = folder / "cases"
    write_brats_dicom_case(cases, "synthetic_dicom", seed=2, spacing=5.0)
    (cases / "empty_case").mkdir()
    run_brats_cohort(cases, folder / "results", network={"feature_size": 12, "depths": [1, 1, 1, 1]},
                     roi_size=(64, 64, 64), overlap=0.0, legacy_merging=False, progress=False, device="cpu")
    return ["synthetic DICOM case at 5 mm, Swin UNETR with random weights (viewer tests)"]


def fundus_step(folder: Path) -> list[str]:
    """The retina photograph at half size (and a second case) through the PVBM cohort function, with
    its overlay; scikit-image's astronaut photo beside them, an error row (not a fundus photograph)."""
    from PIL import Image
    from skimage.data import astronaut

    from medvit.data import fundus_photo
    from medvit.pvbm.cohort import run_biomarker_cohort

    photos = folder / "photos"
    photos.mkdir(parents=True)
    with Image.open(fundus_photo()) as photo:
        photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS).save(photos / "retina.jpg",
                                                                                          quality=95)
    fundus_second_photo(photos)
    Image.fromarray(astronaut()).save(photos / "not_a_fundus.png")  # refused by the bundle's fundus check
    run_biomarker_cohort(photos, folder / "biomarkers.csv", overlay_dir=str(folder / "overlays"), progress=False)
    return ["retina photograph at half size through the PVBM pipeline (viewer tests)"]


def chest_xray_step(folder: Path) -> list[str]:
    """A phantom PNG, a phantom as a MONOCHROME1 CR and a broken file through the thorax cohort function."""
    from medvit.thorax.classify import run_cxr_cohort
    from medvit.thorax.phantoms import write_cxr_dicom, write_cxr_phantoms

    images = folder / "images"
    write_cxr_phantoms(images, count=1)
    (images / "labels.csv").unlink()
    write_cxr_dicom(images / "cr_export.dcm", seed=7)  # a radiograph's size (pydicom's 16×16 px CR is refused)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    run_cxr_cohort(images, folder / "results", network=TINY_VIT, saliency=True, progress=False, device="cpu")
    return ["ViT-tiny with random weights (viewer tests)"]


def fundus_second_photo(photos: Path) -> None:
    """A second case for switching: the retina photograph mirrored, at a quarter of its size."""
    from PIL import Image, ImageOps

    from medvit.data import fundus_photo

    with Image.open(fundus_photo()) as photo:
        ImageOps.mirror(photo).resize((photo.width // 4, photo.height // 4), Image.Resampling.LANCZOS).save(
            photos / "retina_mirrored.png")


def make_samples(cache: Path) -> dict[str, Path]:
    """Every page's sample under ``cache`` (the viewer's cache folder for the session)."""
    import os

    from medvit.viewer.samples import sample_output

    os.environ["MEDVIT_VIEWER_CACHE"] = str(cache)
    os.environ["MEDVIT_DEMO_OUT"] = str(cache / "no_demo_out")  # not a `make demo` run's demo_out/ in this folder
    return {
        "volume": sample_output("volume", step_fn=brain_tumour_step),
        "fundus": sample_output("fundus", step_fn=fundus_step),
        "cxr": sample_output("cxr", step_fn=chest_xray_step),
    }
