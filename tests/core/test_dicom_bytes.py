"""The hand-written encodings give pydicom's bytes and keys, or step aside.

Every case compares with what pydicom (and pynetdicom) produce for the same
input; a case the fast path does not handle must say None, never differ.
"""

from __future__ import annotations

import contextlib
import io
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from pynetdicom import (
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    dimse_primitives,
)
from pynetdicom.dimse_messages import _MESSAGE_TYPES
from pynetdicom.dsutils import create_file_meta, encode

from qrscope.core.dicom.encoding import (
    command_set_bytes,
    command_set_values,
    file_meta_bytes,
    instance_keys,
    read_plain_dataset,
    store_response_bytes,
)
from qrscope.core.receive.storage import _KEYS
from qrscope.demo_pacs.clinical import build_clinical_studies


# -- the file meta header -------------------------------------------------------------
def _pydicom_meta(sop_class: str, sop_instance: str, syntax: str,
                  version: str = PYNETDICOM_IMPLEMENTATION_VERSION) -> bytes:
    fp = DicomBytesIO()
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, create_file_meta(
        sop_class_uid=sop_class, sop_instance_uid=sop_instance, transfer_syntax=syntax,
        implementation_version=version))
    return fp.getvalue()


@pytest.mark.parametrize("sop_instance", ["1.2.3", "1.2.34", generate_uid()])
@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian,
                                    "1.2.840.10008.1.2.4.50"])
@pytest.mark.parametrize("version", [PYNETDICOM_IMPLEMENTATION_VERSION, "ODD", "EVEN"])
def test_the_file_meta_is_pydicoms(sop_instance, syntax, version):
    sop_class = "1.2.840.10008.5.1.4.1.1.2"
    ours = file_meta_bytes(sop_class, sop_instance, syntax, PYNETDICOM_IMPLEMENTATION_UID,
                           version)
    assert ours == _pydicom_meta(sop_class, sop_instance, syntax, version)


@pytest.mark.parametrize("sop_instance", ["", "1.2.\u00e9", None, "1\\2"])
def test_a_file_meta_value_pydicom_must_judge_is_left_to_it(sop_instance):
    assert file_meta_bytes("1.2.3", sop_instance, ExplicitVRLittleEndian,
                           PYNETDICOM_IMPLEMENTATION_UID, "V1") is None
    assert file_meta_bytes("1.2.3", "1.2.3.4", ExplicitVRLittleEndian,
                           PYNETDICOM_IMPLEMENTATION_UID, "") is None  # pydicom writes it empty


# -- command sets ---------------------------------------------------------------------
def _primitive(name: str, rq: bool, comment: bool = True) -> object:
    primitive = getattr(dimse_primitives, name)()
    values = {
        "MessageID": 7, "MessageIDBeingRespondedTo": 7, "Status": 0xFF00,
        "AffectedSOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
        "RequestedSOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
        "AffectedSOPInstanceUID": "1.2.3.4.5", "RequestedSOPInstanceUID": "1.2.3.4",
        "Priority": 2, "MoveDestination": "QRSCOPE",
        "MoveOriginatorApplicationEntityTitle": "ODD", "MoveOriginatorMessageID": 3,
        "NumberOfRemainingSuboperations": 12, "NumberOfCompletedSuboperations": 1000,
        "NumberOfFailedSuboperations": 0, "NumberOfWarningSuboperations": 65535,
        "EventTypeID": 1, "ActionTypeID": 2, "ErrorID": 5,
    }
    if comment:
        values["ErrorComment"] = "odd length"
    for key, value in values.items():
        if hasattr(primitive, key):
            with contextlib.suppress(ValueError, TypeError):
                setattr(primitive, key, value)
    if hasattr(primitive, "Identifier") and not rq and name.startswith("C_"):
        primitive.Status = 0x0000
    return primitive


@pytest.mark.parametrize("field", sorted(_MESSAGE_TYPES))
def test_every_command_set_pynetdicom_builds_encodes_as_pydicom_does(field):
    name, message_class = _MESSAGE_TYPES[field]
    primitive_name = name.rsplit("-", 1)[0].replace("-", "_")
    message = message_class()
    message.primitive_to_message(_primitive(primitive_name, name.endswith("RQ")))
    command_set = message.command_set
    assert command_set_bytes(command_set) == encode(command_set, True, True)


@pytest.mark.parametrize(("message_id", "status", "sop_instance"), [
    (1, 0x0000, "1.2.3.4.5"), (65535, 0xA700, "1.2.3.4"), (7, 0xC211, generate_uid()),
    (0, 0xB000, "1.2"), (300, 0x0122, "1.2.826.0.1.3680043.8.498.12345678901234567890"),
])
def test_a_store_response_is_what_pynetdicom_sends(message_id, status, sop_instance):
    from pynetdicom.dimse_messages import C_STORE_RSP

    response = dimse_primitives.C_STORE()
    response.MessageIDBeingRespondedTo = message_id
    response.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    response.AffectedSOPInstanceUID = sop_instance
    response.Status = status
    message = C_STORE_RSP()
    message.primitive_to_message(response)
    expected = encode(message.command_set, True, True)
    assert store_response_bytes("1.2.840.10008.5.1.4.1.1.481.3", message_id, status,
                                sop_instance) == expected


def test_a_store_response_with_a_uid_pydicom_must_judge_is_left_to_it():
    assert store_response_bytes("1.2.840.10008.5.1.4.1.1.2", 1, 0, "1.2.\u00e9") is None
    assert store_response_bytes("", 1, 0, "1.2.3") is None
    assert store_response_bytes("1.2.3", 1 << 16, 0, "1.2.3") is None


def test_a_command_set_outside_the_plain_values_is_left_to_pydicom():
    ds = Dataset()
    ds.CommandField = 1
    ds.AttributeIdentifierList = [0x00100010, 0x00100020]  # AT
    assert command_set_bytes(ds) is None
    ds = Dataset()
    ds.MoveDestination = "DESTIN\u00c9"  # not ASCII
    assert command_set_bytes(ds) is None
    ds = Dataset()
    ds.PatientName = "Not^A^Command"
    assert command_set_bytes(ds) is None


# -- the keys of an instance ----------------------------------------------------------
def _pydicom_keys(data: bytes) -> dict[str, str]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=list(_KEYS))
    return {k: str(ds.get(k, "") or "") for k in _KEYS}


def _part10(ds: Dataset, syntax: str) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.3")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3.4")
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _image(patient_id: str = "QRS-1") -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID = "Test^Keys", patient_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = generate_uid()
    nested = Dataset()
    nested.CodeValue, nested.CodingSchemeDesignator = "123", "DCM"
    item.PurposeOfReferenceCodeSequence = Sequence([nested])
    ds.ReferencedImageSequence = Sequence([item, item])
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x01\x00" * 4
    return ds


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian,
                                    ExplicitVRBigEndian])
@pytest.mark.parametrize("undefined_lengths", [False, True])
def test_the_keys_are_pydicoms_in_every_plain_encoding(syntax, undefined_lengths):
    ds = _image()
    if undefined_lengths:
        ds.ReferencedImageSequence.is_undefined_length = True
        for item in ds.ReferencedImageSequence:
            item.is_undefined_length_sequence_item = True
            item.PurposeOfReferenceCodeSequence.is_undefined_length = True
    data = _part10(ds, syntax)
    keys = instance_keys(data)
    assert keys is not None
    assert keys == _pydicom_keys(data)
    assert keys["PatientID"] == "QRS-1"


def test_the_keys_of_every_clinical_object_are_pydicoms(tmp_path: Path):
    # RT, SR, PDF, ECG, private classes, Big Endian, four character sets.
    build_clinical_studies(tmp_path)
    files = sorted(tmp_path.rglob("*.dcm"))
    assert len(files) > 10
    fast = 0
    for path in files:
        data = path.read_bytes()
        keys = instance_keys(data)
        if keys is not None:
            fast += 1
            assert keys == _pydicom_keys(data), path
    assert fast >= len(files) // 2, "most objects take the fast path"


@pytest.mark.parametrize("patient_id", ["QRS 1  ", "  lead", "A\\B", "Müller-1", ""])
def test_a_patient_id_is_read_as_pydicom_reads_it_or_left_to_it(patient_id):
    data = _part10(_image(patient_id), ExplicitVRLittleEndian)
    keys = instance_keys(data)
    if keys is not None:
        assert keys == _pydicom_keys(data)
    else:
        assert any(ord(c) > 0x7E or c == "\\" for c in patient_id)


def test_truncated_and_foreign_data_go_to_pydicom():
    data = _part10(_image(), ExplicitVRLittleEndian)
    pixels = data.rindex(b"\xe0\x7f\x10\x00")
    assert instance_keys(data[:pixels - 3]) is None  # cut inside an element
    assert instance_keys(data[:200]) is None
    assert instance_keys(b"not dicom at all" * 20) is None
    assert instance_keys(data[:pixels + 10]) is None  # inside the pixel data's header
    # Cut inside the pixel data's value: pydicom does not read it either.
    assert instance_keys(data[:pixels + 14]) == _pydicom_keys(data[:pixels + 14])


@pytest.mark.parametrize("patient_id", ["QRS-1", "Müller-1"])
def test_the_keys_of_a_deflated_data_set_are_pydicoms_or_left_to_it(patient_id):
    data = _part10(_image(patient_id), DeflatedExplicitVRLittleEndian)
    keys = instance_keys(data)  # read from its inflated head, not the whole
    assert keys == (_pydicom_keys(data) if patient_id.isascii() else None)


@pytest.mark.tuned_engine  # it installs the hand encodings for the whole process
@pytest.mark.parametrize("comment", [False, True])
@pytest.mark.parametrize("field", sorted(_MESSAGE_TYPES))
def test_every_command_set_decodes_as_pydicom_decodes_it(field, comment):
    from pynetdicom import dimse_messages
    from pynetdicom.dsutils import decode

    from qrscope.core.engine.pynetdicom_private import install_fast_encoding

    install_fast_encoding()
    name, message_class = _MESSAGE_TYPES[field]
    message = message_class()
    message.primitive_to_message(_primitive(name.rsplit("-", 1)[0].replace("-", "_"),
                                            name.endswith("RQ"), comment))
    encoded = encode(message.command_set, True, True)
    common = (0x0001, 0x8001, 0x0010, 0x8010, 0x0020, 0x8020, 0x0021, 0x8021, 0x0030,
              0x8030, 0x0FFF)
    if not comment and field in common:
        assert command_set_values(encoded) is not None, "the common ones take the fast path"
    ours = dimse_messages.decode(io.BytesIO(encoded), True, True)
    theirs = decode(io.BytesIO(encoded), True, True)
    assert [(type(e.tag), e.tag, e.VR, type(e.value), e.value) for e in ours] == \
        [(type(e.tag), e.tag, e.VR, type(e.value), e.value) for e in theirs]
    assert (ours.is_implicit_VR, ours.is_little_endian, ours.original_character_set) == \
        (theirs.is_implicit_VR, theirs.is_little_endian, theirs.original_character_set)
    # And the primitive pynetdicom makes of it.
    for ds in (ours, theirs):
        received = message_class()
        received.command_set = ds
        primitive = received.message_to_primitive()
        fields = {k: getattr(primitive, k, None) for k in dir(primitive)
                  if k[0].isupper() and not callable(getattr(primitive, k, None))
                  and not isinstance(getattr(primitive, k, None), io.BytesIO)}
        if ds is ours:
            expected = fields
    assert expected == fields


def test_command_values_pydicom_must_judge_are_left_to_it():
    def element(elem: int, value: bytes) -> bytes:
        return struct.pack("<HHL", 0, elem, len(value)) + value

    plain = element(0x0100, b"\x01\x80") + element(0x0600, b"DEST  ")
    assert command_set_values(plain) == [(0x0100, "US", 0x8001), (0x0600, "AE", "DEST")]
    assert command_set_values(element(0x0902, b"comment ")) is None  # LO
    assert command_set_values(element(0x0100, b"")) is None  # empty
    assert command_set_values(element(0x0100, b"\x01\x00\x02\x00")) is None  # two values
    assert command_set_values(element(0x0600, b"A\\B ")) is None
    assert command_set_values(element(0x0600, b"DESTIN\xc9")) is None
    assert command_set_values(element(0x0600, b"B ") + element(0x0100, b"\x01\x00")) is None
    assert command_set_values(plain[:-2]) is None  # truncated


# -- reading a whole data set -------------------------------------------------------------
def _encoded(ds: Dataset, implicit: bool) -> bytes:
    return encode(ds, implicit, True)


def _same_as_pydicom(data: bytes, implicit: bool) -> bool:
    """Whether it was read here; if so, exactly as pydicom reads it."""
    from pydicom.filereader import read_dataset

    ours = read_plain_dataset(data, implicit, True)
    if ours is None:
        assert b"\xff\xff\xff\xff" in data, "only undefined lengths are left to pydicom here"
        return False
    theirs = read_dataset(io.BytesIO(data), implicit, True)
    assert ours._dict == theirs._dict
    assert ours.original_encoding == theirs.original_encoding
    assert ours.original_character_set == theirs.original_character_set
    assert ours == theirs
    return True


@pytest.mark.parametrize("implicit", [True, False])
def test_a_plain_data_set_is_read_as_pydicom_reads_it(tmp_path: Path, implicit: bool):
    """Every clinical object (no pixels; RT and SR sequences), and an identifier as a PACS
    sends one."""
    read_here = 0
    for path in build_clinical_studies(tmp_path):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        del ds.file_meta
        read_here += _same_as_pydicom(_encoded(ds, implicit), implicit)
    assert read_here >= 6
    identifier = Dataset()
    identifier.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "Yamada^Tarou=\u5c71\u7530^\u592a\u90ce"
    identifier.StudyInstanceUID = generate_uid()
    identifier.NumberOfStudyRelatedInstances = "12"
    identifier.ModalitiesInStudy = ["CT", "SR"]
    identifier.StudyDescription = ""
    identifier.RetrieveAETitle = "ORTHANC"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    identifier.ReferencedStudySequence = Sequence([item])
    assert _same_as_pydicom(_encoded(identifier, implicit), implicit)


def test_a_data_set_pydicom_must_judge_is_left_to_it():
    undefined = (struct.pack("<HHL", 0x0008, 0x1032, 0xFFFFFFFF)
                 + struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
                 + struct.pack("<HHL", 0x0008, 0x0100, 2) + b"1 "
                 + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
                 + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    assert read_plain_dataset(undefined, True, True) is None
    plain = Dataset()
    plain.PatientID = "QRS-1"
    explicit = _encoded(plain, False)
    assert read_plain_dataset(explicit, True, True) is None  # announced implicit, is explicit
    assert read_plain_dataset(explicit[:-2], False, True) is None  # ends inside its value
    assert read_plain_dataset(encode(plain, False, False), False, False) is None  # big endian
    assert read_plain_dataset(explicit[:4] + b"XY" + explicit[6:], False, True) is None
