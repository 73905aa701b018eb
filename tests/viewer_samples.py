"""Small sample outputs for the viewer's tests, in the layout of the ``medvit demo`` steps the
viewer uses (:mod:`medvit.viewer.samples`), made once per test session.

They run the bundles' own cohort functions at small sizes: the real retina photograph
(``skimage.data.retina``, halved) through the PVBM pipeline; a synthetic DICOM brain case at
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
    """The retina photograph at half size through the PVBM cohort function, with its overlay."""
    from PIL import Image

    from medvit.pvbm.cohort import run_biomarker_cohort
    from medvit.data import fundus_photo

    photos = folder / "photos"
    photos.mkdir(parents=True)
    with Image.open(fundus_photo()) as photo:
        photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS).save(photos / "retina.jpg",
                                                                                          quality=95)
    fundus_second_photo(photos)
    run_biomarker_cohort(photos, folder / "biomarkers.csv", overlay_dir=str(folder / "overlays"), progress=False)
    return ["retina photograph at half size through the PVBM pipeline (viewer tests)"]


CXR_SIZE, CXR_PIXEL_MM = 1024, 0.35  # a radiograph's size: 36 cm across


def write_cxr_dicom(path: Path, seed: int = 7) -> Path:
    """A CXR-like phantom at a radiograph's size as a MONOCHROME1 CR DICOM file (12 bits, pixel spacing
    given), like a computed radiography export."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from medvit.thorax.phantoms import cxr_phantom

    image, _ = cxr_phantom(seed, size=CXR_SIZE)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # CR Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "CR", "CHEST", "PA"
    ds.Rows = ds.Columns = CXR_SIZE
    ds.PixelSpacing = [CXR_PIXEL_MM, CXR_PIXEL_MM]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"  # dense is bright once inverted
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    rows = np.ascontiguousarray(np.clip(image, 0, 1).T)  # (x, y) → rows of pixels
    ds.PixelData = (4095 - np.round(rows * 4095)).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def chest_xray_step(folder: Path) -> list[str]:
    """A phantom PNG, a phantom radiograph as MONOCHROME1 CR DICOM at a real size and a broken file
    through the thorax cohort function."""
    from medvit.thorax.classify import run_cxr_cohort
    from medvit.thorax.phantoms import write_cxr_phantoms

    images = folder / "images"
    write_cxr_phantoms(images, count=1)
    (images / "labels.csv").unlink()
    write_cxr_dicom(images / "cr_export.dcm")
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
    return {
        "volume": sample_output("volume", step_fn=brain_tumour_step),
        "fundus": sample_output("fundus", step_fn=fundus_step),
        "cxr": sample_output("cxr", step_fn=chest_xray_step),
    }
