"""The association log: storing, filtering, masking, exporting, subscribers."""

import json

from qrscope.core.net.association_log import (
    AssociationLog,
    Direction,
    EventLevel,
    mask_identifiers,
)


def test_events_reach_subscribers_and_can_be_filtered():
    log = AssociationLog()
    seen = []
    unsubscribe = log.subscribe(seen.append)
    out = log.new_association_id(Direction.OUTGOING)
    inc = log.new_association_id(Direction.INCOMING)
    log.record(out, Direction.OUTGOING, "requested", "A-ASSOCIATE-RQ sent", job_id="job-1")
    log.record(inc, Direction.INCOMING, "requested", "A-ASSOCIATE-RQ received")
    log.record(out, Direction.OUTGOING, "pdu-sent", "P-DATA-TF", level=EventLevel.DEBUG)
    unsubscribe()
    log.record(out, Direction.OUTGOING, "released", "A-RELEASE-RP received")
    assert len(seen) == 3
    assert out.startswith("out-") and inc.startswith("in-")
    assert [e.kind for e in log.events(association_id=out)] == ["requested", "pdu-sent",
                                                                "released"]
    assert [e.association_id for e in log.events(job_id="job-1")] == [out]
    assert all(e.level is EventLevel.INFO for e in log.events(level=EventLevel.INFO))


def test_masking_hides_patient_identifiers_everywhere_in_the_detail():
    log = AssociationLog(mask_patient_identifiers=True)
    event = log.record("out-1", Direction.OUTGOING, "dimse-sent", "C-FIND-RQ sent",
                       detail={"identifier": {"PatientName": "DOE^JOHN", "PatientID": "123",
                                              "StudyDate": "20240101", "AccessionNumber": ""}})
    identifier = event.detail["identifier"]
    assert identifier["PatientName"] == "***" and identifier["PatientID"] == "***"
    assert identifier["StudyDate"] == "20240101"
    assert identifier["AccessionNumber"] == ""  # empty stays empty: nothing to hide
    assert "DOE" not in AssociationLog.to_json_lines(log.events())


def test_mask_identifiers_walks_lists():
    masked = mask_identifiers({"rows": [{"PatientName": "X"}, {"Modality": "CT"}]})
    assert masked == {"rows": [{"PatientName": "***"}, {"Modality": "CT"}]}


def test_json_lines_round_trip_and_line_format():
    log = AssociationLog()
    log.record("in-2", Direction.INCOMING, "instance-stored", "instance 1.2.3 stored",
               peer_ae="ORTHANC", peer_address="127.0.0.1:4242", job_id="job-7")
    line = AssociationLog.to_json_lines(log.events()).strip()
    data = json.loads(line)
    assert data["direction"] == "incoming" and data["job_id"] == "job-7"
    assert data["time"].endswith("+00:00")
    text = log.events()[0].format_line()
    assert "in-2 <- ORTHANC@127.0.0.1:4242" in text and "stored" in text


def test_capacity_bounds_memory():
    log = AssociationLog(capacity=10)
    for i in range(25):
        log.record("out-1", Direction.OUTGOING, "dimse-sent", f"event {i}")
    events = log.events()
    assert len(events) == 10 and events[0].summary == "event 15"
