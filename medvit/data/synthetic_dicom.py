"""Writing a volume as a DICOM MR series, for synthetic cases that must arrive as a hospital sends them.

Nothing here is a real patient: the patient is "Synthetic^Case" with the case's id, and every
UID is generated. The geometry is exact: reading the series back with :mod:`medvit.io` gives
the same array and RAS affine.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import numpy as np

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])


def synthetic_dataset(sop_class_uid: str, patient_id: str, patient_name: str = "Synthetic^Case"):
    """A new DICOM instance of ``sop_class_uid`` (explicit VR little endian, a fresh SOP Instance
    UID) of a synthetic patient: the identity and study modules every synthetic file shares.
    The caller adds the study / series UIDs, the modality and the image."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class_uid, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = patient_name, patient_id, "O", ""
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
    ds.Manufacturer = "medvit synthetic"
    return ds


def write_mr_series(
    volume: np.ndarray,
    affine: np.ndarray,
    folder: str | os.PathLike,
    description: str,
    *,
    patient_id: str,
    study_uid: str,
    frame_of_reference_uid: str,
    series_number: int = 1,
) -> Path:
    """Write ``volume`` (X, Y, Z) with RAS ``affine`` (4, 4) as one axial-like MR series.

    Slices are along the volume's third axis; stored as 16-bit integers with a rescale slope
    so the values survive to ~1e-4 of their range. Returns the folder.
    """
    from pydicom.uid import MRImageStorage, generate_uid

    volume = np.asarray(volume, dtype=np.float64)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns_axis, rows_axis = affine[:3, 0], affine[:3, 1]
    col_spacing, row_spacing = float(np.linalg.norm(columns_axis)), float(np.linalg.norm(rows_axis))
    orientation = np.concatenate([LPS_FROM_RAS @ columns_axis / col_spacing, LPS_FROM_RAS @ rows_axis / row_spacing])
    low, high = float(volume.min()), float(volume.max())
    slope = (high - low) / 65535.0 if high > low else 1.0
    series_uid = generate_uid()
    today = datetime.date.today().strftime("%Y%m%d")
    for k in range(volume.shape[2]):
        ds = synthetic_dataset(MRImageStorage, patient_id)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.StudyDate = ds.SeriesDate = today
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.Modality = "MR"
        ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = description, series_number, k + 1
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in LPS_FROM_RAS @ (affine @ [0, 0, k, 1])[:3]]
        ds.PixelSpacing = [f"{row_spacing:.6f}", f"{col_spacing:.6f}"]
        ds.SliceThickness = f"{float(np.linalg.norm(affine[:3, 2])):.6f}"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{low:.10g}"
        stored = np.round((volume[:, :, k].T - low) / slope).clip(0, 65535).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        ds.save_as(folder / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    return folder
