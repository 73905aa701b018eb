"""Writing a label map as a DICOM SEG object over its source series (highdicom).

The label map must be on the source series' grid as :mod:`medvit.io` reads it: (X, Y, Z) =
(columns, rows, slices in position order). The SEG references every source slice, keeps the
source's patient and study (a PACS files it with the study), and has one binary segment per
label.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medvit.errors import MedvitError


# Type 2 attributes (present, possibly empty) of the patient and study modules that highdicom
# copies from the source into the SEG: many exports leave them out altogether.
TYPE2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                       "ReferringPhysicianName", "StudyID", "AccessionNumber")


def with_type2_attributes(dataset):
    """``dataset`` with each missing :data:`TYPE2_PATIENT_STUDY` attribute added empty, as the
    standard allows for Type 2 (the dataset is changed in memory only, never its file)."""
    from pydicom.datadict import dictionary_VR

    for keyword in TYPE2_PATIENT_STUDY:
        if keyword not in dataset:
            dataset.add_new(keyword, dictionary_VR(keyword), "")
    return dataset


@dataclass(frozen=True)
class SegmentDefinition:
    """One segment: the label value it covers, a label, and its SNOMED CT category and type codes."""

    label: int
    name: str
    category: tuple[str, str, str]  # (code value, scheme, meaning)
    type: tuple[str, str, str]


def write_dicom_seg(
    labels: np.ndarray,
    source_folder: str | os.PathLike,
    series_uid: str | None,
    path: str | os.PathLike,
    segments: Sequence[SegmentDefinition],
    series_description: str = "Segmentation",
    algorithm: tuple[str, str] = ("medvit", "0"),
) -> Path:
    """Write ``labels`` (X, Y, Z) as a binary DICOM SEG referencing the source series; atomically.

    Args:
        labels: integer label map on the source grid.
        source_folder, series_uid: the source series (as for :func:`medvit.io.read_image`).
        path: the .dcm file to write.
        segments: one per label value to export (labels not listed are left out).
        algorithm: (name, version) recorded as the segmentation algorithm.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    from medvit.io.atomic import atomic_path
    from medvit.io.dicom_series import choose_series, list_series, sort_slices

    series = choose_series(source_folder, list_series(source_folder), series_uid)
    ordered, _ = sort_slices(source_folder, series.slices)
    sources = [with_type2_attributes(pydicom.dcmread(header.path)) for header in ordered]
    expected = (sources[0].Columns, sources[0].Rows, len(sources))
    if tuple(labels.shape) != expected:
        raise MedvitError(f"label map {labels.shape} is not on the grid of the source series {expected} (x, y, slices)")
    # (X, Y, Z) -> frames (Z, rows, columns, segments), in the order of ``sources``
    frames = np.stack([np.transpose(labels == s.label, (2, 1, 0)) for s in segments], axis=-1).astype(np.uint8)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=s.name,
            segmented_property_category=Code(*s.category),
            segmented_property_type=Code(*s.type),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name=algorithm[0], version=algorithm[1], family=codes.cid7162.ArtificialIntelligence
            ),
        )
        for number, s in enumerate(segments, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=max(int(getattr(sources[0], "SeriesNumber", 0) or 0), 0) + 100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="medvit",
        manufacturer_model_name=algorithm[0],
        software_versions=algorithm[1],
        device_serial_number="0",
        series_description=series_description,
        omit_empty_frames=False,
    )
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return Path(path)
