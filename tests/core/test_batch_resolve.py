"""Resolving a batch's items to studies by C-FIND, as a strict PACS requires.

Against the demo PACS in this process, serving :mod:`tests.batch_studies`:
an accession number is asked at STUDY level; a Patient ID with its date
range; an accession number of two studies is ambiguous; a result limit hit
is split into smaller date ranges until each part is under it.
"""

from __future__ import annotations

import threading

import pytest
from tests.batch_studies import (
    DUPLICATE,
    INSTANCES_PER_STUDY,
    MANY,
    MANY_DATES,
    accession,
)
from tests.demo_site import start_demo_site

from qrscope.core.batch.items import BatchItem, ItemStatus
from qrscope.core.batch.resolve import Resolver
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import RemoteNode
from qrscope.core.query.find import shared_searches
from qrscope.demo_pacs import DemoPacsBehaviour


def _resolver(site, **options) -> Resolver:
    return Resolver(site.node, site.local, site.log, **options)


def test_an_accession_number_is_one_study_with_its_instance_count(site):
    found = _resolver(site).resolve(BatchItem(row=2, accession_number=accession(3)))
    assert found.status is ItemStatus.FOUND
    [study] = found.studies
    assert study.accession_number == accession(3) and study.patient_id == "P0003"
    assert study.instances == INSTANCES_PER_STUDY


def test_unknown_and_ambiguous_accession_numbers(site):
    resolver = _resolver(site)
    missing = resolver.resolve(BatchItem(row=3, accession_number="NOPE-1"))
    assert missing.status is ItemStatus.NOT_FOUND and missing.studies == ()
    assert "NOPE-1" in missing.reason
    twice = resolver.resolve(BatchItem(row=4, accession_number=DUPLICATE))
    assert twice.status is ItemStatus.AMBIGUOUS and len(twice.studies) == 2
    assert "2 studies" in twice.reason and {s.patient_id for s in twice.studies} == {
        "PDUP1", "PDUP2"}


def test_a_study_uid_and_a_patient_id_with_a_date_range(site):
    resolver = _resolver(site)
    one = resolver.resolve(BatchItem(row=2, accession_number=accession(1)))
    again = resolver.resolve(BatchItem(row=3, study_uid=one.studies[0].study_uid))
    assert again.status is ItemStatus.FOUND and again.studies == one.studies
    some = resolver.resolve(BatchItem(row=4, patient_id=MANY.patient_id,
                                      study_date="20190101-20211231"))
    assert some.status is ItemStatus.FOUND
    assert sorted(s.study_date for s in some.studies) == list(MANY_DATES[1:4])


def test_a_result_limit_hit_is_split_into_smaller_date_ranges(site):
    resolver = _resolver(site, limit=2)
    found = resolver.resolve(BatchItem(row=2, patient_id=MANY.patient_id,
                                       study_date="20180101-20241231"))
    assert found.status is ItemStatus.FOUND
    assert sorted(s.study_date for s in found.studies) == list(MANY_DATES)
    assert found.queries > 3, "the range was asked again in parts"
    assert "split" in found.reason


def test_a_pacs_that_cannot_be_reached_raises(site, tmp_path):
    node = RemoteNode(name="Gone", ae_title="GONE", host="127.0.0.1", port=1)
    with pytest.raises(AssociationFailure):
        Resolver(node, site.local, site.log).resolve(BatchItem(row=2, accession_number="A"))


def test_cancel_ends_the_search_under_way_with_c_cancel(tmp_path, batch_folder):
    """Cancelled while its C-FIND waits for the PACS (which pauses before each match),
    the search is cancelled there and then (C-CANCEL, PS3.7 9.3.2.3): the item is not
    resolved from the answer that would have come."""
    slow = DemoPacsBehaviour(match_delay=2.0)
    site = start_demo_site(batch_folder, tmp_path / "received", behaviour=slow)
    asked = threading.Event()
    site.log.subscribe(lambda e: asked.set() if e.kind == "dimse-sent"
                       and e.detail.get("message") == "C-FIND-RQ" else None)
    resolver = _resolver(site)
    ended: list = []
    thread = threading.Thread(target=lambda: ended.append(
        resolver.resolve(BatchItem(row=2, accession_number=accession(2)))))
    try:
        thread.start()
        assert asked.wait(30)
        resolver.cancel()
        thread.join(60)
        [found] = ended
        assert resolver.cancelled
        assert found.status is ItemStatus.FAILED and found.studies == ()
        assert "cancelled" in found.reason
        sent = [e.detail.get("message") for e in site.log.events() if e.kind == "dimse-sent"]
        assert "C-CANCEL-RQ" in sent
        again = resolver.resolve(BatchItem(row=3, accession_number=accession(3)))
        assert again.status is ItemStatus.FAILED, "a cancelled resolver asks nothing more"
        finds = [e for e in site.log.events() if e.kind == "dimse-sent"
                 and e.detail.get("message") == "C-FIND-RQ"]
        assert len(finds) == 1
    finally:
        site.pacs.stop()


def _established(site) -> int:
    return [e.kind for e in site.log.events()].count("established")


def _expected_associations(site, before_events: int) -> int:
    """One for all the rows on the tuned engine; one a search on stock pynetdicom, whose
    reactor can drop a later response on a shared association (FindAssociation)."""
    if shared_searches():
        return 1
    return sum(1 for e in site.log.events()[before_events:]
               if e.kind == "dimse-sent" and e.detail.get("message") == "C-FIND-RQ")


def test_the_rows_of_a_batch_are_resolved_on_one_association(site):
    items = [BatchItem(row=2 + n, accession_number=accession(n)) for n in range(1, 5)]
    items.append(BatchItem(row=6, accession_number="NOPE-1"))
    before, events = _established(site), len(site.log.events())
    found = list(_resolver(site).resolve_all(items))
    assert [f.status for f in found] == [ItemStatus.FOUND] * 4 + [ItemStatus.NOT_FOUND]
    assert [f.studies[0].accession_number for f in found[:4]] == [
        accession(n) for n in range(1, 5)]
    assert _established(site) - before == _expected_associations(site, events)
    # The A-RELEASE-RP (our releasing thread) and the TCP close (the DUL thread) are
    # logged by two threads, in either order.
    assert "released" in [e.kind for e in site.log.events()][-2:], \
        "the association is released once the rows are resolved"


def test_a_split_search_stays_on_the_rows_association(site):
    items = [BatchItem(row=2, patient_id=MANY.patient_id, study_date="20180101-20241231"),
             BatchItem(row=3, accession_number=accession(1))]
    before, events = _established(site), len(site.log.events())
    split, one = _resolver(site, limit=2).resolve_all(items)
    assert sorted(s.study_date for s in split.studies) == list(MANY_DATES)
    assert one.status is ItemStatus.FOUND
    assert _established(site) - before == _expected_associations(site, events)
