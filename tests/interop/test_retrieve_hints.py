"""Hints for failed C-MOVEs, provoked for real on Orthanc and dcmqrscp.

Unknown destination: the server has no entry for the AE title we send.
Reverse connection failed: the server knows QRSCOPE at our listener port,
but nothing listens there (our listener is not started).
"""

from __future__ import annotations

from qrscope.core.association_log import AssociationLog
from qrscope.core.diagnosis.retrieve_hints import hints_for_retrieve
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve_types import RetrieveScope


def _move(server, tmp_path, destination: str):
    node = RemoteNode(name=server.kind, ae_title=server.ae_title, host=server.host,
                      port=server.port)
    local = LocalAE(ae_title="QRSCOPE", listener_port=server.peer_listener_port,
                    bind_address="127.0.0.1", storage_folder=tmp_path)
    outcome = RetrieveJob(node, local, AssociationLog(),
                          RetrieveScope.study(server.study_uids[0]),
                          move_destination=destination).run()
    return outcome, hints_for_retrieve(outcome, node, local)


def test_unknown_destination_is_named_with_the_entry_to_add(qr_server, tmp_path):
    outcome, hints = _move(qr_server, tmp_path, "UNKNOWNAE")
    ids = [h.id for h in hints]
    assert "move-destination-unknown" in ids, (outcome.to_dict(), ids)
    unknown = hints[ids.index("move-destination-unknown")]
    assert "UNKNOWNAE" in unknown.summary
    copied = [a.value for a in unknown.actions if a.kind == "copy"]
    assert any('"UNKNOWNAE"' in v for v in copied)  # the Orthanc snippet
    assert any("HostTable" in v for v in copied)  # the dcmqrscp snippet
    assert ids[0] == "move-destination-mismatch"  # we also say it is not our AE title


def test_nobody_listening_at_our_port_is_a_failed_reverse_connection(qr_server, tmp_path):
    outcome, hints = _move(qr_server, tmp_path, "QRSCOPE")
    ids = [h.id for h in hints]
    assert outcome.status == "failed"
    assert "reverse-connection-failed" in ids, (outcome.to_dict(), ids)
    reverse = hints[ids.index("reverse-connection-failed")]
    assert str(qr_server.peer_listener_port) in reverse.summary
    assert reverse.evidence["incoming_associations"] == 0
    if qr_server.kind == "orthanc":
        # 0xC000 at once: Orthanc's answer for "unknown" and for "refused" alike.
        assert ids == ["move-destination-unknown", "reverse-connection-failed"]
    else:
        assert ids[0] == "reverse-connection-failed"
