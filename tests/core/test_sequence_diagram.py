"""Sequence diagrams built from real retrieves against the demo PACS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from qrscope.core.profiles import RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.diagnosis.sequence import LISTENER, build_sequence


def _study(demo) -> str:
    return demo.pacs.instances[0].text("StudyInstanceUID")


def test_c_move_shows_both_associations_with_grouped_stores(demo):
    with StorageListener(demo.local, demo.log) as listener:
        job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(_study(demo)),
                          listener=listener)
        outcome = job.run()
    diagram = build_sequence(demo.log, job.job_id, "move")
    assert diagram.has_reverse_association
    texts = [a.text for a in diagram.arrows]
    assert texts[0].startswith("A-ASSOCIATE-RQ")
    assert "C-MOVE-RQ" in texts
    stores = [a for a in diagram.arrows if a.label == "C-STORE-RQ" and a.target == LISTENER]
    assert sum(a.count for a in stores) == len(outcome.stored)
    mermaid = diagram.mermaid()
    assert mermaid.startswith("sequenceDiagram") and "P->>L" in mermaid and "Q->>P" in mermaid
    ET.fromstring(diagram.svg())  # well-formed SVG


def test_refused_c_move_shows_the_missing_second_half(demo):
    job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(_study(demo)),
                      move_destination="ELSEWHERE")
    job.run()
    diagram = build_sequence(demo.log, job.job_id)
    assert not diagram.has_reverse_association
    assert any("0xA801" in a.text for a in diagram.arrows)
    assert "no association from the PACS to our listener" in diagram.mermaid()
    assert "no association from the PACS reached us" in diagram.svg()


def test_c_get_is_one_association(demo):
    job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(_study(demo)),
                      method=RetrieveMethod.GET)
    job.run()
    diagram = build_sequence(demo.log, job.job_id)
    lanes = {lane for a in diagram.arrows for lane in (a.source, a.target)}
    assert LISTENER not in lanes
    assert any(a.label == "C-STORE-RQ" and a.count > 1 for a in diagram.arrows)
    # A C-GET awaits no association from the PACS: its absence is not news.
    assert "no association" not in diagram.svg()
    assert "no association" not in diagram.mermaid()
    ET.fromstring(diagram.svg())
