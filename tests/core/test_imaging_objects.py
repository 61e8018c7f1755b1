"""Objects without pixels get a typed placeholder and their text (issue 22, point 2)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from qrscope.core.imaging import NoPixels, describe_object, render_frame
from qrscope.demo_pacs.clinical import build_clinical_studies


@pytest.fixture(scope="module")
def clinical(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    by_modality: dict[str, list[Path]] = {}
    for path in build_clinical_studies(tmp_path_factory.mktemp("clinical")):
        modality = pydicom.dcmread(path, stop_before_pixels=True).Modality
        by_modality.setdefault(modality, []).append(path)
    return by_modality


@pytest.mark.parametrize(("modality", "kind", "expected"), [
    ("SR", "sr", "Recording Observer's Name: Enter text"),
    ("DOC", "pdf", "Document title: Referral letter"),
    ("RTPLAN", "rt-plan", "Beam 1: Field 1, PHOTON, 2 control points"),
    ("RTSTRUCT", "rt-struct", "ROI 1: patient"),
    ("ECG", "waveform", "Multiplex group 1: 12 channels, 10000 samples at 1000 Hz"),
    ("OT", "other", "no image to show"),
])
def test_each_kind_has_its_placeholder_and_text(clinical, modality, kind, expected):
    path = clinical[modality][0]
    with pytest.raises(NoPixels):
        render_frame(path)
    summary = describe_object(path)
    assert summary.kind == kind
    assert any(expected in line for line in summary.lines), summary.lines


def test_the_pdf_says_its_size_and_type(clinical):
    summary = describe_object(clinical["DOC"][0])
    document = pydicom.dcmread(clinical["DOC"][0]).EncapsulatedDocument
    assert f"Size: {len(document)} bytes" in summary.lines
    assert "Type: application/pdf" in summary.lines
    assert summary.title == "Encapsulated PDF Storage · Referral letter"


def test_the_ecg_lists_its_leads(clinical):
    lines = describe_object(clinical["ECG"][0]).lines
    first_group = lines[1:lines.index(next(ln for ln in lines[1:] if not ln.startswith(" ")))]
    assert first_group[0] == "  Lead I (Einthoven)" and len(first_group) == 12


def test_a_private_class_is_named_as_such(clinical):
    assert describe_object(clinical["OT"][0]).title.startswith("Private or unknown SOP class")


def _saved(tmp_path: Path, ds: Dataset) -> Path:
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "object.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _code(meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "1", "99X", meaning
    return item


def test_a_key_object_selection_shows_its_title_and_text(tmp_path: Path):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.59"  # Key Object Selection Document
    ds.Modality = "KO"
    ds.ConceptNameCodeSequence = [_code("Of Interest")]
    note = Dataset()
    note.ValueType = "TEXT"
    note.ConceptNameCodeSequence = [_code("Key Object Description")]
    note.TextValue = "Lesion at 3 o'clock"
    ds.ContentSequence = [note]
    summary = describe_object(_saved(tmp_path, ds))
    assert summary.kind == "kos"
    assert summary.lines == ("Of Interest", "  Key Object Description: Lesion at 3 o'clock")


def test_a_presentation_state_says_what_it_applies_to(tmp_path: Path):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy Presentation State
    ds.Modality = "PR"
    ds.ContentLabel = "KEY_VIEW"
    image = Dataset()
    image.ReferencedSOPInstanceUID = generate_uid()
    series = Dataset()
    series.ReferencedImageSequence = [image, image]
    ds.ReferencedSeriesSequence = [series]
    summary = describe_object(_saved(tmp_path, ds))
    assert summary.kind == "presentation-state"
    assert summary.lines == ("Label: KEY_VIEW", "Applies to 2 image(s)")
