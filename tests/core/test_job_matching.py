"""Which retrieve job an incoming instance belongs to.

The Move Originator fields decide when the sender fills them; otherwise the
UIDs do, the most specific scope winning. Real senders that leave the fields
empty exist (and a C-STORE from another program may arrive at any time), so
the fallback matters.
"""

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.receive.storage import StoredInstance
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope

STUDY, SERIES, OTHER_SERIES = "1.2.3", "1.2.3.1", "1.2.3.2"
CT = "1.2.840.10008.5.1.4.1.1.2"


def _instance(sop="1.2.3.1.1", series=SERIES, study=STUDY, originator="", msg=None,
              calling="PACS", conflict=False, duplicate=False):
    stored = StoredInstance(path=None, sop_instance_uid=sop, sop_class_uid=CT,
                            study_uid=study, series_uid=series, patient_id="P", size=1,
                            conflict=conflict, duplicate=duplicate)
    return ReceivedInstance(sop_instance_uid=sop, sop_class_uid=stored.sop_class_uid,
                            transfer_syntax="1.2.840.10008.1.2.1", calling_ae=calling,
                            called_ae="QRSCOPE", peer_address="127.0.0.1:1",
                            association_id="in-1",
                            originator_ae=originator, originator_message_id=msg, stored=stored)


def _job(scope):
    node = RemoteNode(name="n", ae_title="PACS", host="127.0.0.1", port=104)
    return RetrieveJob(node, LocalAE(), AssociationLog(), scope)


def test_originator_fields_win_over_uids():
    job = _job(RetrieveScope.study("9.9.9"))
    job._message_ids.add(42)
    assert job.claim_score(_instance(originator="QRSCOPE", msg=42), "QRSCOPE") == 100
    assert job.claim_score(_instance(originator="QRSCOPE", msg=41), "QRSCOPE") == 0
    assert job.claim_score(_instance(originator="SOMEONE", msg=42), "QRSCOPE") == 0


def test_without_originator_the_most_specific_scope_wins():
    study_job = _job(RetrieveScope.study(STUDY))
    series_job = _job(RetrieveScope.series(STUDY, SERIES))
    instance_job = _job(RetrieveScope.instances(STUDY, SERIES, "1.2.3.1.1"))
    item = _instance()
    scores = [j.claim_score(item, "QRSCOPE") for j in (study_job, series_job, instance_job)]
    assert scores == sorted(scores) and scores[0] > 0
    assert series_job.claim_score(_instance(series=OTHER_SERIES), "QRSCOPE") == 0
    assert study_job.claim_score(_instance(study="7.7.7"), "QRSCOPE") == 0


def test_without_originator_a_second_copy_goes_to_the_job_that_lacks_it():
    first, second = _job(RetrieveScope.study(STUDY)), _job(RetrieveScope.study(STUDY))
    item = _instance()
    assert first.claim_score(item, "QRSCOPE") == second.claim_score(item, "QRSCOPE") > 0
    first.deliver(item)
    assert first.claim_score(item, "QRSCOPE") == 0
    assert second.claim_score(item, "QRSCOPE") > 0


def test_a_finished_job_claims_nothing():
    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(42)
    outcome = job._finish(RetrieveOutcome(job_id=job.job_id, method=job.method))
    assert outcome.status == "failed"
    assert job.claim_score(_instance(originator="QRSCOPE", msg=42), "QRSCOPE") == 0


def test_an_instance_is_counted_once_however_often_it_arrives():
    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(42)
    first = _instance(originator="QRSCOPE", msg=42)
    job.deliver(first)
    again = _instance(originator="QRSCOPE", msg=42, duplicate=True)
    assert job.claim_score(again, "QRSCOPE") > 0  # ours: not reported as unexpected
    job.deliver(again)
    assert job.progress().received == 1
    outcome = job._finish(RetrieveOutcome(job_id=job.job_id, method=job.method))
    assert len(outcome.stored) == 1


def test_a_different_object_under_an_instance_already_credited_is_not_credited():
    # A forged copy (same SOP Instance UID, other bytes) filed beside the real one.
    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(42)
    job.deliver(_instance(originator="QRSCOPE", msg=42))
    forged = _instance(originator="QRSCOPE", msg=42, conflict=True)
    assert job.claim_score(forged, "QRSCOPE") == 0


def test_another_ae_title_from_the_pacs_host_is_no_alias_once_the_pacs_sent_as_itself():
    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(1)
    job.deliver(_instance(originator="QRSCOPE", msg=1))  # the PACS, under its own AE title
    impostor = _instance(sop="1.2.3.1.2", originator="QRSCOPE", msg=1, calling="IMPOSTOR")
    assert not job.accepts_sender("IMPOSTOR", "127.0.0.1", "QRSCOPE", 1)
    assert job.claim_score(impostor, "QRSCOPE") == 0


def test_a_pacs_storage_ae_title_is_one_alias_and_only_within_the_scope():
    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(42)
    assert job.accepts_sender("PACS_STORE", "127.0.0.1", "QRSCOPE", 42)
    assert job.claim_score(_instance(originator="QRSCOPE", msg=42, calling="PACS_STORE"),
                           "QRSCOPE") == 100
    outside = _instance(study="7.7.7", originator="QRSCOPE", msg=42, calling="PACS_STORE")
    assert job.claim_score(outside, "QRSCOPE") == 0
    assert not job.accepts_sender("SECOND_ALIAS", "127.0.0.1", "QRSCOPE", 42)


def test_message_ids_do_not_start_at_a_guessable_number():
    import subprocess
    import sys

    code = "from qrscope.core.net.connection import next_message_id; print(next_message_id())"
    firsts = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip() for _ in range(3)}
    assert len(firsts) > 1  # the same start three times: 1 in 65535**2


def test_a_pacs_that_fills_the_move_originator_wrongly_is_credited_within_the_scope():
    # A Java archive seen in the field: its own AE title, and Message ID 1 whatever
    # our request's was. From our node's host under its AE title, in our scope, and
    # claimed surely by no other job: ours, by its UIDs.
    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(42)
    quirky = _instance(originator="PACS", msg=1)
    assert 0 < job.claim_score(quirky, "QRSCOPE") < 100
    assert job.claim_score(_instance(study="7.7.7", originator="PACS", msg=1), "QRSCOPE") == 0
    # Our AE title with a Message ID none of our requests had: the same, by UIDs.
    assert 0 < job.claim_score(_instance(originator="QRSCOPE", msg=7), "QRSCOPE") < 100
    # Another workstation's AE title names its own request: never ours.
    assert job.claim_score(_instance(originator="OTHERWS", msg=1), "QRSCOPE") == 0
    # A job whose request had that Message ID claims it surely, and wins.
    other = _job(RetrieveScope.study(STUDY))
    other._message_ids.add(7)
    assert other.claim_score(_instance(originator="QRSCOPE", msg=7), "QRSCOPE") == 100


def test_the_outcome_names_a_pacs_that_fills_the_move_originator_wrongly():
    from qrscope.diagnosis.retrieve_hints import hints_for_retrieve

    job = _job(RetrieveScope.study(STUDY))
    job._message_ids.add(42)
    job.deliver(_instance(originator="PACS", msg=1))
    outcome = job._finish(RetrieveOutcome(job_id=job.job_id, method=job.method))
    assert outcome.originator_quirk == "Move Originator AE Title 'PACS', Message ID 1"
    hints = {h.id: h for h in hints_for_retrieve(outcome, job.node, job.local)}
    assert "'PACS'" in hints["move-originator-wrong"].summary
