"""The demo PACS's in-memory catalogue of the DICOM files it serves.

The index is built once, before the server starts, and never changes
afterwards. pynetdicom answers every association in its own thread, so
immutability is what makes concurrent C-FIND, C-MOVE and C-GET safe without
a lock: records are frozen dataclasses, values are plain strings, numbers
and tuples extracted at load time (no lazily decoded pydicom elements that
would mutate on first read), and the groupings are read-only mappings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName

from qrscope.core.dicom.qr_models import QR_MODELS
from qrscope.core.dicom.records import QueryLevel
from qrscope.demo_pacs.matching import value_strings

__all__ = [
    "QR_SOP_CLASSES",
    "Attribute",
    "IndexedInstance",
    "InstanceIndex",
]

_LOGGER = logging.getLogger("qrscope.demo_pacs")

# Bulk data and sequences are never query keys the demo PACS answers, and
# skipping them keeps the index small (stop_before_pixels already drops
# Pixel Data).
_SKIPPED_VRS = frozenset({"SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"})


QR_SOP_CLASSES = tuple(QR_MODELS.values())
"""Every FIND/MOVE/GET SOP class the demo PACS serves."""


class Attribute(NamedTuple):
    """One stored attribute value, frozen at load time.

    Attributes
    ----------
    vr : str
        Value representation, as read from the file.
    value : object
        ``None``, a ``str``, a number, or a tuple of those; PN values are
        kept as their ``str`` form.
    strings : tuple of str
        The non-empty string forms used for matching.
    """

    vr: str
    value: object
    strings: tuple[str, ...]


@dataclass(frozen=True)
class IndexedInstance:
    """One SOP instance the demo PACS serves: where it is and what it says.

    Attributes
    ----------
    path : pathlib.Path
        The file, read again (in full) only when the instance is retrieved.
    transfer_syntax : pydicom.uid.UID
        The transfer syntax the file is stored in, which is the one it is
        sent in.
    attributes : Mapping[int, Attribute]
        Top-level, non-sequence, non-bulk attributes by tag.
    """

    path: Path
    transfer_syntax: UID
    attributes: Mapping[int, Attribute]

    def get(self, keyword: str) -> Attribute | None:
        """Return the attribute named `keyword`, or ``None`` if absent."""
        tag = tag_for_keyword(keyword)
        return None if tag is None else self.attributes.get(tag)

    def text(self, keyword: str) -> str:
        """Return the first value of `keyword` as a string, ``""`` if absent."""
        attribute = self.get(keyword)
        return attribute.strings[0] if attribute and attribute.strings else ""

    @property
    def sop_class_uid(self) -> UID:
        """The instance's SOP Class UID."""
        return UID(self.text("SOPClassUID"))

    @property
    def sop_instance_uid(self) -> UID:
        """The instance's SOP Instance UID."""
        return UID(self.text("SOPInstanceUID"))

    def key(self, level: QueryLevel) -> str:
        """Return the unique key value identifying this instance's `level` entity."""
        return self.text(level.unique_key)


class InstanceIndex:
    """Read-only catalogue of instances, grouped by patient, study and series.

    Parameters
    ----------
    records : iterable of IndexedInstance
        The instances; duplicates of a SOP Instance UID keep the first.
    """

    def __init__(self, records: Iterable[IndexedInstance]) -> None:
        unique: dict[str, IndexedInstance] = {}
        for record in records:
            uid = record.sop_instance_uid
            if uid in unique:
                _LOGGER.warning("Ignoring %s: duplicate SOP Instance UID %s", record.path, uid)
                continue
            unique[uid] = record
        self._instances = tuple(sorted(unique.values(), key=_hierarchy_order))
        self._groups = MappingProxyType(
            {level: _group(self._instances, level) for level in QueryLevel}
        )

    @classmethod
    def load(cls, folder: Path) -> InstanceIndex:
        """Index every readable DICOM file under `folder`, recursively.

        Files that are not DICOM, or lack the UIDs an instance needs, are
        skipped with a log message rather than failing the whole load: a
        user pointing the demo PACS at a real folder usually has a few
        stray files in it.
        """
        records = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            record = _read_record(path)
            if record is not None:
                records.append(record)
        index = cls(records)
        _LOGGER.info("Indexed %d instances from %s", len(index.instances), folder)
        return index

    @property
    def instances(self) -> tuple[IndexedInstance, ...]:
        """All instances, in patient/study/series/instance order."""
        return self._instances

    def entities(self, level: QueryLevel) -> Iterable[tuple[IndexedInstance, ...]]:
        """Return the instances of each entity at `level`, one tuple per entity."""
        return self._groups[level].values()

    def members(self, level: QueryLevel, key: str) -> tuple[IndexedInstance, ...]:
        """Return the instances of the `level` entity whose unique key is `key`."""
        return self._groups[level].get(key, ())


def _read_record(path: Path) -> IndexedInstance | None:
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError) as exc:
        _LOGGER.debug("Skipping %s: not a readable DICOM file (%s)", path, exc)
        return None
    missing = [
        kw for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
        if not ds.get(kw)
    ]
    transfer_syntax = getattr(ds.file_meta, "TransferSyntaxUID", None) if ds.file_meta else None
    if missing or transfer_syntax is None:
        _LOGGER.warning(
            "Skipping %s: missing %s", path, ", ".join(missing) or "Transfer Syntax UID"
        )
        return None
    return IndexedInstance(path, UID(transfer_syntax), _freeze_attributes(ds))


def _freeze_attributes(ds: Dataset) -> Mapping[int, Attribute]:
    attributes: dict[int, Attribute] = {}
    for element in ds:  # iterating converts raw elements with the file's charset
        if element.tag.is_private or element.VR in _SKIPPED_VRS:
            continue
        value = _freeze_value(element)
        attributes[int(element.tag)] = Attribute(element.VR, value, value_strings(value))
    return MappingProxyType(attributes)


def _freeze_value(element: DataElement) -> object:
    value = element.value
    if isinstance(value, MultiValue | list | tuple):
        return tuple(str(item) if isinstance(item, PersonName) else item for item in value)
    if isinstance(value, PersonName):
        return str(value)
    if value == "":
        return None
    return value


def _group(
    instances: tuple[IndexedInstance, ...], level: QueryLevel
) -> Mapping[str, tuple[IndexedInstance, ...]]:
    groups: dict[str, list[IndexedInstance]] = {}
    for record in instances:
        groups.setdefault(record.key(level), []).append(record)
    return MappingProxyType({key: tuple(members) for key, members in groups.items()})


def _hierarchy_order(record: IndexedInstance) -> tuple[object, ...]:
    return (
        record.text("PatientID"),
        record.text("StudyDate"),
        record.text("StudyTime"),
        record.text("StudyInstanceUID"),
        _number(record.text("SeriesNumber")),
        record.text("SeriesInstanceUID"),
        _number(record.text("InstanceNumber")),
        str(record.path),
    )


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")
