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
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

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
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = "Synthetic^Case", patient_id, "O", ""
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.StudyDate = ds.SeriesDate = today
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
        ds.Modality, ds.Manufacturer = "MR", "medvit synthetic"
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
