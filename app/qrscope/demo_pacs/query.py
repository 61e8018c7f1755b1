"""Answering C-FIND identifiers and resolving C-MOVE/C-GET identifiers.

The rules follow PS3.4 C.2.2 and C.4, read loosely where real PACS are
loose, because qrscope must work against those:

* C-FIND is strictly hierarchical (PS3.4 C.4.1.2.2), as DCMTK's
  ``dcmqrscp --check-find`` is: below the model's top, the identifier
  must hold the unique key of every level above, each with a single value,
  and no other key of a level above or below the query level (in Study
  Root the patient's attributes are study attributes). Anything else is
  refused with 0xA900, and the reason is logged. Keys of no known level
  are optional keys of the query level: matched at IMAGE level, returned
  empty above it, as PS3.4 allows for unsupported keys.
* Sequence keys are returned as empty sequences and never matched.
* The level's unique key is returned even when the request forgot it, as
  Orthanc and dcm4chee do, so that a client can always drill down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from qrscope.core.dicom.qr_models import model_levels, root_name
from qrscope.core.dicom.records import EVERY_LEVEL_KEYS, QueryLevel, key_level
from qrscope.core.profiles import QueryModel
from qrscope.demo_pacs.index import Attribute, IndexedInstance, InstanceIndex
from qrscope.demo_pacs.matching import check_hierarchy, matches, value_strings

__all__ = ["InvalidIdentifier", "find", "parse_level", "resolve_retrieve"]

# Keys the response carries for every request, set by the caller or here.
_RESPONSE_CONTROL_TAGS = frozenset(
    tag_for_keyword(kw) for kw in ("QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle")
)

_Computed = Callable[[InstanceIndex, IndexedInstance], Attribute]


class InvalidIdentifier(ValueError):
    """The identifier cannot be answered; reported as status 0xA900.

    PS3.4 C.4.1.1.4 names 0xA900, *Identifier does not match SOP Class*,
    for an identifier the SCP cannot interpret under the requested model.
    """


@dataclass(frozen=True)
class _Key:
    tag: int
    keyword: str
    vr: str
    query: tuple[str, ...]
    is_sequence: bool


def parse_level(identifier: Dataset, model: QueryModel) -> QueryLevel:
    """Return the identifier's Query/Retrieve Level, checked against `model`.

    Raises
    ------
    InvalidIdentifier
        If the level is missing, unknown, or not part of `model` (PATIENT
        under Study Root).
    """
    text = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    try:
        level = QueryLevel(text)
    except ValueError:
        raise InvalidIdentifier(f"Query/Retrieve Level {text!r} is not valid") from None
    if level not in model_levels(model):
        raise InvalidIdentifier(f"{root_name(model)} has no {level} level")
    return level


def find(
    index: InstanceIndex, identifier: Dataset, model: QueryModel, retrieve_ae_title: str
) -> Iterator[Dataset]:
    """Return the response identifiers of the entities matching a C-FIND request.

    Parameters
    ----------
    index : InstanceIndex
        What the PACS holds.
    identifier : pydicom.dataset.Dataset
        The request identifier.
    model : QueryModel
        The model of the request's presentation context.
    retrieve_ae_title : str
        Returned in *Retrieve AE Title* (0008,0054): where to C-MOVE/C-GET from.

    Returns
    -------
    iterator of pydicom.dataset.Dataset
        Lazily, one per matching entity: the requested keys with this entity's values, plus
        *Query/Retrieve Level*, *Retrieve AE Title* and, when a value needs
        more than ASCII, *Specific Character Set* ``ISO_IR 192``.

    Raises
    ------
    InvalidIdentifier
        From :func:`parse_level`, or for an identifier that breaks the rules
        of hierarchical search; raised by the call itself (not on the first
        iteration), so the caller can answer 0xA900 up front.
    """
    level = parse_level(identifier, model)
    keys = _request_keys(identifier, level)
    reason = check_hierarchy(
        {key.keyword: key.query for key in keys if key.keyword},
        level,
        model is QueryModel.STUDY_ROOT,
    )
    if reason:
        raise InvalidIdentifier(reason)
    return _responses(index, identifier, keys, level, model, retrieve_ae_title)


def _responses(
    index: InstanceIndex,
    identifier: Dataset,
    keys: list[_Key],
    level: QueryLevel,
    model: QueryModel,
    retrieve_ae_title: str,
) -> Iterator[Dataset]:
    requested_charset = identifier.get("SpecificCharacterSet")
    for members in index.entities(level):
        values = _entity_values(index, members[0], keys, level, model)
        if values is None:
            continue
        response = _response(level, keys, values, retrieve_ae_title)
        _set_character_set(response, requested_charset)
        yield response


def resolve_retrieve(
    index: InstanceIndex, identifier: Dataset, model: QueryModel
) -> list[IndexedInstance]:
    """Return the instances a C-MOVE or C-GET identifier asks for.

    Only unique keys count (PS3.4 C.4.2.2.1): Patient ID, Study, Series and
    SOP Instance UIDs, each possibly a backslash-separated list, at the
    requested level and above. Other keys are ignored, as most PACS do.
    Patient ID filters under Study Root too, where it is not a unique key,
    because SCUs send it and ignoring it could retrieve too much.

    Raises
    ------
    InvalidIdentifier
        If the level is invalid or no unique key has a value; retrieving
        the whole archive is never what a request without keys meant.
    """
    level = parse_level(identifier, model)
    filters = []
    for candidate in QueryLevel:
        if candidate.rank > level.rank:
            break
        wanted = value_strings(identifier.get(candidate.unique_key))
        if wanted:
            filters.append((candidate.unique_key, frozenset(wanted)))
    if not filters:
        raise InvalidIdentifier(f"No unique key value in the {level} level retrieve request")
    return [
        record
        for record in index.instances
        if all(record.text(keyword) in wanted for keyword, wanted in filters)
    ]


def _request_keys(identifier: Dataset, level: QueryLevel) -> list[_Key]:
    keys = []
    for element in identifier:
        tag = int(element.tag)
        if element.tag.is_private or element.tag.group in (0x0000, 0x0002):
            continue
        if element.tag.element == 0 or tag in _RESPONSE_CONTROL_TAGS:
            continue
        keyword = keyword_for_tag(tag)
        vr = _dictionary_vr(tag) or element.VR
        is_sequence = vr == "SQ"
        query = () if is_sequence else value_strings(element.value)
        keys.append(_Key(tag, keyword, vr, query, is_sequence))
    unique = tag_for_keyword(level.unique_key)
    if all(key.tag != unique for key in keys):
        keys.append(_Key(unique, level.unique_key, _dictionary_vr(unique), (), False))
    return keys


def _entity_values(
    index: InstanceIndex,
    record: IndexedInstance,
    keys: list[_Key],
    level: QueryLevel,
    model: QueryModel,
) -> dict[int, Attribute | None] | None:
    """Return the entity's value for each key, or ``None`` if a key rejects it."""
    values: dict[int, Attribute | None] = {}
    for key in keys:
        if key.is_sequence or not _is_supported(key.keyword, level, model):
            values[key.tag] = None
            continue
        computed = _COMPUTED.get(key.keyword)
        attribute = computed(index, record) if computed else record.attributes.get(key.tag)
        stored = attribute.strings if attribute else ()
        # Counts are return-only keys (PS3.4 C.6.1.1.x tables: no matching).
        if key.keyword not in _RETURN_ONLY and not matches(key.vr, key.query, stored):
            return None
        values[key.tag] = attribute
    return values


def _is_supported(keyword: str, level: QueryLevel, model: QueryModel) -> bool:
    if keyword in EVERY_LEVEL_KEYS:
        return True
    # Study Root folds the patient attributes into the study level.
    belongs = key_level(keyword, model is QueryModel.STUDY_ROOT) or QueryLevel.IMAGE
    return belongs.rank <= level.rank


def _response(
    level: QueryLevel,
    keys: list[_Key],
    values: dict[int, Attribute | None],
    retrieve_ae_title: str,
) -> Dataset:
    response = Dataset()
    response.QueryRetrieveLevel = str(level)
    for key in keys:
        if key.is_sequence:
            response.add_new(key.tag, "SQ", Sequence())
            continue
        attribute = values[key.tag]
        vr = attribute.vr if attribute else key.vr
        value = attribute.value if attribute else None
        response.add_new(key.tag, vr, list(value) if isinstance(value, tuple) else value)
    response.RetrieveAETitle = retrieve_ae_title
    return response


def _set_character_set(response: Dataset, requested: object) -> None:
    """Declare UTF-8 when a value needs it, else echo the request's choice.

    The values are Python strings decoded from each file's own character
    set; ISO_IR 192 can encode all of them, and declaring it only when
    needed keeps plain-ASCII answers identical to what simple PACS send.
    """
    needs_utf8 = any(
        not text.isascii()
        for element in response
        if element.VR != "SQ"
        for text in value_strings(element.value)
    )
    if needs_utf8:
        response.SpecificCharacterSet = "ISO_IR 192"
    elif requested:
        response.SpecificCharacterSet = requested


def _dictionary_vr(tag: int) -> str:
    """Return the tag's VR from the data dictionary; ``""`` if unknown or ambiguous."""
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return ""
    return "" if " or " in vr else vr


def _count(level: QueryLevel, scope: QueryLevel) -> _Computed:
    """Count the distinct `level` entities within this record's `scope` entity."""

    def compute(index: InstanceIndex, record: IndexedInstance) -> Attribute:
        members = index.members(scope, record.key(scope))
        number = len({member.key(level) for member in members})
        return Attribute("IS", number, (str(number),))

    return compute


def _distinct_in_study(keyword: str, vr: str) -> _Computed:
    def compute(index: InstanceIndex, record: IndexedInstance) -> Attribute:
        members = index.members(QueryLevel.STUDY, record.key(QueryLevel.STUDY))
        values = tuple(sorted({member.text(keyword) for member in members} - {""}))
        return Attribute(vr, values, values)

    return compute


def _transfer_syntax(index: InstanceIndex, record: IndexedInstance) -> Attribute:
    return Attribute("UI", record.transfer_syntax, (str(record.transfer_syntax),))


def _online(index: InstanceIndex, record: IndexedInstance) -> Attribute:
    return Attribute("CS", "ONLINE", ("ONLINE",))


_P, _ST, _SE, _IM = QueryLevel
_COMPUTED: dict[str, _Computed] = {
    "NumberOfPatientRelatedStudies": _count(_ST, _P),
    "NumberOfPatientRelatedSeries": _count(_SE, _P),
    "NumberOfPatientRelatedInstances": _count(_IM, _P),
    "NumberOfStudyRelatedSeries": _count(_SE, _ST),
    "NumberOfStudyRelatedInstances": _count(_IM, _ST),
    "NumberOfSeriesRelatedInstances": _count(_IM, _SE),
    "ModalitiesInStudy": _distinct_in_study("Modality", "CS"),
    "SOPClassesInStudy": _distinct_in_study("SOPClassUID", "UI"),
    "AvailableTransferSyntaxUID": _transfer_syntax,
    "InstanceAvailability": _online,
}
_RETURN_ONLY = frozenset(keyword for keyword in _COMPUTED if keyword.startswith("NumberOf"))
