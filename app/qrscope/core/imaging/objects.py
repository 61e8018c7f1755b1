"""Objects without an image, described for a placeholder: :func:`describe_object`.

A PACS holds more than images: structured reports and key object selections
(PS3.3 C.17: a content tree of coded names and values), encapsulated PDFs
(A.45), radiotherapy plans and structure sets, waveforms such as ECGs (C.10.9),
presentation states. The viewer shows their kind and the text they carry,
read from the data set, never decoding anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from qrscope.core.imaging.decoders import CannotDecode

__all__ = ["ObjectSummary", "describe_object"]

_MAX_LINES = 400
_DEFER = "256 KB"  # a PDF's or a waveform's bytes are measured, not read


@dataclass(frozen=True)
class ObjectSummary:
    """What a placeholder shows: the kind ("sr", "pdf", "rt-plan", ...), a title, text."""

    kind: str
    title: str
    lines: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "title": self.title, "lines": list(self.lines)}


def describe_object(path: Path) -> ObjectSummary:
    """The kind, title and text of the object in *path*.

    Raises :class:`CannotDecode` when *path* cannot be read as DICOM.
    """
    try:
        ds = pydicom.dcmread(path, defer_size=_DEFER)
    except Exception as exc:
        raise CannotDecode(f"cannot read {Path(path).name} as DICOM: {exc}") from None
    uid = UID(str(ds.get("SOPClassUID", "")))
    name = uid.name if uid and uid.name != str(uid) else f"Private or unknown SOP class {uid}"
    kind, lines = _by_content(ds, name)
    title = " · ".join(t for t in (name, _label(ds)) if t)
    return ObjectSummary(kind, title, tuple(lines[:_MAX_LINES]))


def _label(ds: Dataset) -> str:
    for keyword in ("DocumentTitle", "RTPlanLabel", "StructureSetLabel", "ContentLabel",
                    "SeriesDescription"):
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            return value
    return ""


def _by_content(ds: Dataset, name: str) -> tuple[str, list[str]]:
    if "EncapsulatedDocument" in ds:
        return "pdf" if "PDF" in name or "pdf" in str(
            ds.get("MIMETypeOfEncapsulatedDocument", "")) else "document", _document(ds)
    if "BeamSequence" in ds or "IonBeamSequence" in ds or "RTPlanLabel" in ds:
        return "rt-plan", _rt_plan(ds)
    if "StructureSetROISequence" in ds:
        return "rt-struct", _rt_struct(ds)
    if "WaveformSequence" in ds:
        return "waveform", _waveform(ds)
    if "ContentSequence" in ds or ds.get("Modality") in ("SR", "KO"):
        return ("kos" if ds.get("Modality") == "KO" else "sr"), _content_tree(ds)
    if "Presentation State" in name:
        return "presentation-state", _presentation_state(ds)
    if "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return "image", []
    return "other", [f"{name}: no image to show"]


def _document(ds: Dataset) -> list[str]:
    element = ds.get_item("EncapsulatedDocument")
    size = getattr(element, "length", None) or len(ds.EncapsulatedDocument or b"")
    lines = [f"Document title: {ds.get('DocumentTitle', '') or '(none)'}",
             f"Type: {ds.get('MIMETypeOfEncapsulatedDocument', '') or 'unknown'}",
             f"Size: {size} bytes"]
    return lines


def _rt_plan(ds: Dataset) -> list[str]:
    lines = [f"Plan label: {ds.get('RTPlanLabel', '')}"]
    if ds.get("RTPlanName"):
        lines.append(f"Plan name: {ds.RTPlanName}")
    for beam in list(ds.get("BeamSequence") or []) + list(ds.get("IonBeamSequence") or []):
        parts = [f"Beam {beam.get('BeamNumber', '?')}", str(beam.get("BeamName", "") or ""),
                 str(beam.get("RadiationType", "") or ""),
                 f"{beam.get('NumberOfControlPoints', '?')} control points"]
        lines.append(": ".join([parts[0], ", ".join(p for p in parts[1:] if p)]))
    return lines


def _rt_struct(ds: Dataset) -> list[str]:
    lines = [f"Structure set: {ds.get('StructureSetLabel', '')}"]
    lines += [f"ROI {roi.get('ROINumber', '?')}: {roi.get('ROIName', '')}"
              for roi in ds.StructureSetROISequence]
    return lines


def _waveform(ds: Dataset) -> list[str]:
    lines = []
    for number, item in enumerate(ds.WaveformSequence, 1):
        lines.append(f"Multiplex group {number}: {item.get('NumberOfWaveformChannels', '?')} "
                     f"channels, {item.get('NumberOfWaveformSamples', '?')} samples at "
                     f"{item.get('SamplingFrequency', '?')} Hz")
        for channel in item.get("ChannelDefinitionSequence") or []:
            source = (channel.get("ChannelSourceSequence") or [None])[0]
            label = channel.get("ChannelLabel") or (source.get("CodeMeaning") if source else "")
            lines.append(f"  {label or '(unlabelled channel)'}")
    return lines


def _presentation_state(ds: Dataset) -> list[str]:
    lines = [f"Label: {ds.get('ContentLabel', '')}"]
    if ds.get("ContentDescription"):
        lines.append(f"Description: {ds.ContentDescription}")
    images = sum(len(s.get("ReferencedImageSequence") or [])
                 for s in ds.get("ReferencedSeriesSequence") or [])
    lines.append(f"Applies to {images} image(s)")
    return lines


def _content_tree(ds: Dataset) -> list[str]:
    """The SR content tree (PS3.3 C.17.3) as indented "name: value" lines."""
    lines: list[str] = []
    title = _code_meaning(ds.get("ConceptNameCodeSequence"))
    if title:
        lines.append(title)
    _walk(ds.get("ContentSequence") or [], 1, lines)
    return lines


def _walk(items: list[Dataset], depth: int, lines: list[str]) -> None:
    for item in items:
        if len(lines) >= _MAX_LINES:
            return
        name = _code_meaning(item.get("ConceptNameCodeSequence"))
        value = _value(item)
        text = f"{name}: {value}" if name and value else (name or value)
        if text:
            lines.append("  " * depth + text)
        _walk(item.get("ContentSequence") or [], depth + 1, lines)


def _value(item: Dataset) -> str:
    kind = str(item.get("ValueType", ""))
    if kind == "TEXT":
        return str(item.get("TextValue", ""))
    if kind == "CODE":
        return _code_meaning(item.get("ConceptCodeSequence"))
    if kind == "NUM":
        measured = (item.get("MeasuredValueSequence") or [None])[0]
        if measured is None:
            return ""
        unit = _code_meaning(measured.get("MeasurementUnitsCodeSequence"))
        return f"{measured.get('NumericValue', '')} {unit}".strip()
    if kind in ("DATE", "TIME", "DATETIME", "UIDREF", "PNAME"):
        keyword = {"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime", "UIDREF": "UID",
                   "PNAME": "PersonName"}[kind]
        return str(item.get(keyword, ""))
    return ""


def _code_meaning(sequence: object) -> str:
    if not sequence:
        return ""
    return str(sequence[0].get("CodeMeaning", ""))  # type: ignore[index]
