"""One UID rule on top of pydicom's: strict where we build, liberal where we only match.

PS3.5 9.1: a UID is at most 64 characters of digits and dots, its components
without leading zeros. What we put in a request or name a file after must
meet that (strict); a value we only pass back to the PACS it came from may
carry the harmless faults some PACS produce (liberal). Padding a peer put on
a received value is removed before either rule sees it.
"""

from io import BytesIO

import pydicom
import pytest
from pydicom.data import get_testdata_file

from qrscope.core.dicom.encoding import instance_keys
from qrscope.core.dicom.uids import is_valid_uid
from qrscope.core.query.find import QueryFilter
from qrscope.core.receive.storage import InstanceStore, UnparseableInstance
from qrscope.core.validation import InvalidValue

CASES = [  # value, strict, liberal
    ("1.2.840.10008.1.1", True, True),
    ("0.1", True, True),
    ("1.02.3", False, True),  # a component with a leading zero
    ("1..3", False, True),  # an empty component
    ("1.2.", False, True),  # a trailing dot
    ("1.2.3 ", False, False),  # padding is the reader's to remove, not the rule's
    (" 1.2.3", False, False),
    ("1.2.3a", False, False),
    ("1.2/../3", False, False),
    ("", False, False),
    ("1" * 64, True, True),
    ("1" * 65, False, False),
]


@pytest.mark.parametrize(("value", "strict", "liberal"), CASES)
def test_uid_rules(value: str, strict: bool, liberal: bool):
    assert is_valid_uid(value) is strict
    assert is_valid_uid(value, strict=False) is liberal


def _part10(**changes: str) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_a_received_uid_padded_with_a_space_is_filed_without_it(tmp_path):
    data = _part10(SOPInstanceUID="1.2.3.44").replace(b"1.2.3.44", b"1.2.3.4 ")
    assert instance_keys(data)["SOPInstanceUID"] == "1.2.3.4"
    stored = InstanceStore(tmp_path).store(data)
    assert stored.sop_instance_uid == "1.2.3.4"
    assert stored.path.name == "1.2.3.4.dcm"


def test_a_received_uid_with_a_leading_zero_reaches_the_strict_check(tmp_path):
    # The scanner reads it (it is plain digits and dots); the store names
    # files only after strictly valid UIDs, so it quarantines the instance.
    data = _part10(SOPInstanceUID="1.2.03.4")
    assert instance_keys(data)["SOPInstanceUID"] == "1.2.03.4"
    with pytest.raises(UnparseableInstance, match="no valid SOP Instance UID"):
        InstanceStore(tmp_path).store(data)


def test_a_received_study_uid_with_a_leading_zero_gets_a_hashed_folder(tmp_path):
    stored = InstanceStore(tmp_path).store(_part10(StudyInstanceUID="1.2.03"))
    assert stored.study_uid == "1.2.03"
    assert stored.path.parts[-3].startswith("invalid-uid-")


def test_a_received_uid_longer_than_64_is_kept_in_its_own_folder(tmp_path):
    long_uid = "1." + "2" * 64
    stored = InstanceStore(tmp_path).store(_part10(StudyInstanceUID=long_uid))
    assert stored.study_uid == long_uid
    assert stored.path.parts[-3].startswith("invalid-uid-")


def test_a_query_may_match_a_uid_with_a_leading_zero():
    # Such a UID came from the PACS's own answer; it matches there as it is.
    assert QueryFilter(study_uid="1.02.3\\1.2.3").validated().study_uid == "1.02.3\\1.2.3"


@pytest.mark.parametrize("bad", ["1.2.3 ", "1.2.x", "1" * 65])
def test_a_query_refuses_what_is_not_a_uid(bad: str):
    with pytest.raises(InvalidValue, match="is not a UID"):
        QueryFilter(series_uid=bad).validated()
