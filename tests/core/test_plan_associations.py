"""A retrieve's plan asks the PACS on one association, and a caller may keep it for many.

Each association costs more than a small C-FIND (docs/PERFORMANCE.md, batch
retrieval): a plan's STUDY, SERIES and IMAGE level look-ups share one, and a
batch keeps one across its items' plans. Against the demo PACS in this process.

On stock pynetdicom, whose reactor can take a response meant for a later request
on the same association, every search keeps an association of its own.
"""

from __future__ import annotations

import pytest

from qrscope.core.query.find import FindAssociation, shared_searches
from qrscope.core.retrieve.plan import RetrievePlanner
from qrscope.core.retrieve.types import RetrieveScope


def _kinds(site) -> list[str]:
    return [e.kind for e in site.log.events()]


def _finds(site) -> int:
    return sum(1 for e in site.log.events()
               if e.kind == "dimse-sent" and "C-FIND-RQ" in e.summary)


def _studies(site) -> list[str]:
    return sorted({i.text("StudyInstanceUID") for i in site.pacs.instances})


def _with_most_series(site) -> str:
    series: dict[str, set[str]] = {}
    for instance in site.pacs.instances:
        series.setdefault(instance.text("StudyInstanceUID"), set()).add(
            instance.text("SeriesInstanceUID"))
    return max(series, key=lambda uid: len(series[uid]))


tuned_only = pytest.mark.skipif(not shared_searches(),
                                reason="stock pynetdicom: one association per search")


def test_on_stock_pynetdicom_every_search_has_an_association_of_its_own(demo):
    if shared_searches():
        pytest.skip("the tuned engine shares them")
    study = _with_most_series(demo)
    RetrievePlanner(demo.node, demo.local, demo.log).learn(RetrieveScope.study(study))
    assert _kinds(demo).count("established") == _finds(demo) >= 3
    assert _kinds(demo).count("released") == _finds(demo)


@tuned_only
def test_a_plans_look_ups_share_one_association_released_at_its_end(demo):
    study = _with_most_series(demo)
    plan = RetrievePlanner(demo.node, demo.local, demo.log).learn(RetrieveScope.study(study))
    assert plan.complete and plan.instances
    assert _finds(demo) >= 3, "study, series and each series' instances were asked"
    assert _kinds(demo).count("established") == 1
    assert _kinds(demo).count("released") == 1, "released when the plan was learnt"


@tuned_only
def test_plans_on_a_kept_association_open_it_once_and_leave_it_to_the_caller(demo):
    finds = FindAssociation(demo.node, demo.local, demo.log, idle=float("inf"))
    try:
        plans = [RetrievePlanner(demo.node, demo.local, demo.log, finds=finds).learn(
                     RetrieveScope.study(uid)) for uid in _studies(demo)]
        assert len(plans) > 1 and all(p.complete for p in plans)
        assert _kinds(demo).count("established") == 1
        assert _kinds(demo).count("released") == 0, "the caller's to release"
    finally:
        finds.close()
    assert _kinds(demo).count("released") == 1


@tuned_only
def test_a_kept_association_the_pacs_ended_is_opened_again(demo):
    finds = FindAssociation(demo.node, demo.local, demo.log, idle=float("inf"))
    try:
        first, second = _studies(demo)[:2]
        RetrievePlanner(demo.node, demo.local, demo.log, finds=finds).learn(
            RetrieveScope.study(first))
        finds.get().assoc.abort()  # as a PACS's idle timer would
        plan = RetrievePlanner(demo.node, demo.local, demo.log, finds=finds).learn(
            RetrieveScope.study(second))
        assert plan.complete and plan.instances
        assert _kinds(demo).count("established") == 2
    finally:
        finds.close()


@tuned_only
def test_a_kept_association_idle_too_long_is_not_trusted_with_the_next_search(demo):
    finds = FindAssociation(demo.node, demo.local, demo.log, idle=-1.0)
    try:
        for uid in _studies(demo)[:2]:
            RetrievePlanner(demo.node, demo.local, demo.log, finds=finds).learn(
                RetrieveScope.study(uid))
        established = _kinds(demo).count("established")
        assert established > 2, "every search on a fresh association"
        assert _kinds(demo).count("released") == established - 1
    finally:
        finds.close()
