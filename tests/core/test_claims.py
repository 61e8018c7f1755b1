"""The claim rule, one row of evidence at a time (core/receive/claims.py).

Each case is an incoming instance and what a job knows at that moment; the
expected answer is the claim's score, why, and the quirk named for the hint.
The end-to-end cases (the listener, real associations) are in
test_job_matching.py, test_listener_senders.py and test_retrieve_completeness.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from qrscope.core.receive.claims import (
    CERTAIN,
    Admission,
    Claim,
    Incoming,
    Sender,
    Standing,
    Why,
    admission,
    choose,
    claim,
)
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.receive.storage import StoredInstance
from qrscope.core.retrieve.scope import RetrieveScope

STUDY, SERIES, SOP = "1.2.3", "1.2.3.1", "1.2.3.1.1"
PACS_HOST, ELSEWHERE = "10.0.0.5", "10.0.0.9"
CT = "1.2.840.10008.5.1.4.1.1.2"
JOB = Standing(our_ae="QRSCOPE", node_ae="PACS", node_host=PACS_HOST,
               scope=RetrieveScope.study(STUDY), message_ids=frozenset({42}))


def _incoming(calling="PACS", address=PACS_HOST, originator="QRSCOPE", msg: int | None = 42,
              study=STUDY, series=SERIES, sop=SOP, **kw) -> Incoming:
    return Incoming(Sender(calling, address, originator, msg), sop, series, study, **kw)


QUIRK_PACS_1 = "Move Originator AE Title 'PACS', Message ID 1"

# (case, incoming, standing, score, why, quirk)
CLAIM_ROWS = [
    ("our AE title and our Message ID", _incoming(), JOB, CERTAIN, Why.ORIGINATOR, ""),
    ("a finished job claims nothing", _incoming(), replace(JOB, closed=True), 0, Why.CLOSED,
     ""),
    ("an instance refused before filing", _incoming(refused=True), JOB, 0, Why.REFUSED, ""),
    ("the node's AE title from another host", _incoming(address=ELSEWHERE), JOB, 0,
     Why.STRANGER, ""),
    ("another AE title from another host", _incoming(calling="FORGER", address=ELSEWHERE),
     JOB, 0, Why.STRANGER, ""),
    ("a different object under a UID credited", _incoming(), replace(JOB, held=True), 0,
     Why.CREDITED, ""),
    ("a byte-identical second copy stays ours", _incoming(identical_copy=True),
     replace(JOB, held=True), CERTAIN, Why.ORIGINATOR, ""),
    ("our request, outside the scope, from the node itself naming us",
     _incoming(study="7.7.7"), JOB, CERTAIN, Why.ORIGINATOR, ""),
    ("our Message ID without an AE title, outside the scope",
     _incoming(originator="", study="7.7.7"), JOB, 0, Why.OUT_OF_SCOPE, ""),
    ("the PACS's storage AE title for our request, before it sent as itself",
     _incoming(calling="PACS_STORE"), JOB, CERTAIN, Why.ORIGINATOR, ""),
    ("the storage AE title for our request, outside the scope",
     _incoming(calling="PACS_STORE", study="7.7.7"), JOB, 0, Why.OUT_OF_SCOPE, ""),
    ("another AE title once the PACS sent as itself", _incoming(calling="PACS_STORE"),
     replace(JOB, sent_as_itself=True), 0, Why.STRANGER, ""),
    ("a second storage AE title", _incoming(calling="SECOND"),
     replace(JOB, aliases=frozenset({"PACS_STORE"})), 0, Why.STRANGER, ""),
    ("the adopted storage AE title again", _incoming(calling="PACS_STORE"),
     replace(JOB, aliases=frozenset({"PACS_STORE"})), CERTAIN, Why.ORIGINATOR, ""),
    ("no Move Originator: a study scope by its UIDs", _incoming(originator="", msg=None),
     JOB, 10, Why.NO_ORIGINATOR, ""),
    ("no Move Originator: a series scope ranks higher", _incoming(originator="", msg=None),
     replace(JOB, scope=RetrieveScope.series(STUDY, SERIES)), 20, Why.NO_ORIGINATOR, ""),
    ("no Move Originator: an instance scope ranks highest",
     _incoming(originator="", msg=None),
     replace(JOB, scope=RetrieveScope.instances(STUDY, SERIES, SOP)), 30,
     Why.NO_ORIGINATOR, ""),
    ("no Move Originator, another series", _incoming(originator="", msg=None),
     replace(JOB, scope=RetrieveScope.series(STUDY, "1.2.3.2")), 0, Why.OUT_OF_SCOPE, ""),
    ("no Move Originator, credited already", _incoming(originator="", msg=None,
                                                        identical_copy=True),
     replace(JOB, held=True), 0, Why.CREDITED, ""),
    ("the PACS's own AE title and a constant Message ID", _incoming(originator="PACS", msg=1),
     JOB, 10, Why.WRONG_ORIGINATOR, QUIRK_PACS_1),
    ("our AE title with a Message ID of no request", _incoming(msg=7), JOB, 10,
     Why.WRONG_ORIGINATOR, "Move Originator AE Title 'QRSCOPE', Message ID 7"),
    ("our AE title without a Message ID", _incoming(msg=None), JOB, 10,
     Why.WRONG_ORIGINATOR, ""),
    ("fields filled wrongly, outside the scope", _incoming(originator="PACS", msg=1,
                                                           study="7.7.7"),
     JOB, 0, Why.OUT_OF_SCOPE, ""),
    ("fields filled wrongly under a storage AE title",
     _incoming(calling="PACS_STORE", originator="PACS", msg=1), JOB, 0, Why.STRANGER, ""),
    ("another workstation's AE title names its own request",
     _incoming(originator="OTHERWS", msg=1), JOB, 0, Why.OTHER_REQUEST, ""),
]


@pytest.mark.parametrize(("incoming", "standing", "score", "why", "quirk"),
                         [row[1:] for row in CLAIM_ROWS], ids=[row[0] for row in CLAIM_ROWS])
def test_claim_rule(incoming, standing, score, why, quirk):
    assert claim(incoming, standing) == Claim(score, why, quirk)


# (case, sender, standing, admission)
ADMISSION_ROWS = [
    ("the node's AE title from its host", Sender("PACS", PACS_HOST, "QRSCOPE", 1), JOB,
     Admission.NODE),
    ("the node's AE title from elsewhere", Sender("PACS", ELSEWHERE, "QRSCOPE", 42), JOB,
     Admission.NO),
    ("a storage AE title naming our request", Sender("PACS_STORE", PACS_HOST, "QRSCOPE", 42),
     JOB, Admission.NEW_ALIAS),
    ("a storage AE title naming another request",
     Sender("PACS_STORE", PACS_HOST, "QRSCOPE", 43), JOB, Admission.NO),
    ("a storage AE title naming another workstation",
     Sender("PACS_STORE", PACS_HOST, "OTHERWS", 42), JOB, Admission.NO),
    ("a storage AE title after the node sent as itself",
     Sender("PACS_STORE", PACS_HOST, "QRSCOPE", 42), replace(JOB, sent_as_itself=True),
     Admission.NO),
    ("the adopted storage AE title, whatever it names",
     Sender("PACS_STORE", PACS_HOST, "", None),
     replace(JOB, aliases=frozenset({"PACS_STORE"})), Admission.NODE),
    ("a second storage AE title", Sender("SECOND", PACS_HOST, "QRSCOPE", 42),
     replace(JOB, aliases=frozenset({"PACS_STORE"})), Admission.NO),
]


@pytest.mark.parametrize(("sender", "standing", "expected"),
                         [row[1:] for row in ADMISSION_ROWS],
                         ids=[row[0] for row in ADMISSION_ROWS])
def test_admission_rule(sender, standing, expected):
    assert admission(sender, standing) is expected


@dataclass
class _Job:
    """A claimant whose evidence is fixed: only what choose() asks of a job."""

    job_id: str
    known: Standing

    def standing(self, sop_instance_uid: str) -> Standing:
        return self.known


def _received(originator: str, msg: int | None, study: str = STUDY) -> ReceivedInstance:
    stored = StoredInstance(path=None, sop_instance_uid=SOP, sop_class_uid=CT,
                            study_uid=study, series_uid=SERIES, patient_id="P", size=1)
    return ReceivedInstance(SOP, stored.sop_class_uid, "1.2.840.10008.1.2.1", "PACS",
                            "QRSCOPE", f"{PACS_HOST}:104", "in-1", originator_ae=originator,
                            originator_message_id=msg, stored=stored)


STUDY_JOB = _Job("study", replace(JOB, message_ids=frozenset({1})))
SERIES_JOB = _Job("series", replace(JOB, scope=RetrieveScope.series(STUDY, SERIES),
                                    message_ids=frozenset({2})))
OTHER_STUDY_JOB = _Job("other", replace(JOB, scope=RetrieveScope.study("7.7.7"),
                                        message_ids=frozenset({3})))
TWIN_JOB = _Job("twin", replace(JOB, message_ids=frozenset({4})))

# (case, instance, jobs in the order attached, job expected to credit it, why)
CHOICE_ROWS = [
    ("the job whose request it names, over a narrower scope", _received("QRSCOPE", 1),
     [SERIES_JOB, STUDY_JOB], "study", Why.ORIGINATOR),
    ("the certain claim wins over a quirky one", _received("QRSCOPE", 3, study="7.7.7"),
     [STUDY_JOB, OTHER_STUDY_JOB], "other", Why.ORIGINATOR),
    ("no fields: the narrowest scope", _received("", None), [STUDY_JOB, SERIES_JOB],
     "series", Why.NO_ORIGINATOR),
    ("no fields, equal scopes: the job attached first", _received("", None),
     [TWIN_JOB, STUDY_JOB], "twin", Why.NO_ORIGINATOR),
    ("fields filled wrongly, nobody's request: by its UIDs", _received("PACS", 1000),
     [OTHER_STUDY_JOB, STUDY_JOB], "study", Why.WRONG_ORIGINATOR),
    ("another workstation's request: nobody's", _received("OTHERWS", 1),
     [STUDY_JOB, SERIES_JOB], None, None),
    ("no running job: unexpected", _received("QRSCOPE", 1), [], None, None),
]


@pytest.mark.parametrize(("instance", "jobs", "expected", "why"),
                         [row[1:] for row in CHOICE_ROWS], ids=[row[0] for row in CHOICE_ROWS])
def test_choose_names_the_job_that_credits_an_instance(instance, jobs, expected, why):
    chosen = choose(instance, jobs)
    got = None if chosen is None else (chosen[0].job_id, chosen[1].why)
    assert got == (None if expected is None else (expected, why))
