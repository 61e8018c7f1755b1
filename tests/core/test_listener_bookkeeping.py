"""The listener's lists of what happened stay bounded (issue 11: a listener that runs for days).

Opening thousands of real connections would take most of a minute on a
shared machine, so the records go in through the functions the listener's
handlers call for each connection, instance and refusal.
"""

from __future__ import annotations

from pynetdicom.pdu_primitives import A_ASSOCIATE
from tests.core.test_job_matching import _instance

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE
from qrscope.core.receive.listener import RefusedCaller, StorageListener

# docs/RELIABILITY.md: "the most recent 1000, 1000 and 200".
CONNECTIONS, UNEXPECTED, REFUSED = 1000, 1000, 200


class _Requestor:
    def __init__(self, number: int) -> None:
        self.address, self.port = "127.0.0.2", 1024 + number


class _Association:
    """What the listener's A-ASSOCIATE-RQ handler reads of a pynetdicom association."""

    def __init__(self, number: int) -> None:
        self.requestor = _Requestor(number)


class _Received:
    def __init__(self, number: int) -> None:
        self.assoc = _Association(number)
        self.primitive = A_ASSOCIATE()
        self.primitive.calling_ae_title = f"CALLER{number}"
        self.primitive.called_ae_title = "QRSCOPE"


def test_connections_unexpected_instances_and_refused_callers_stay_bounded(tmp_path):
    listener = StorageListener(LocalAE(storage_folder=tmp_path), AssociationLog())
    total = 1500
    for number in range(total):
        listener._on_acse_received(_Received(number))
        listener._hand_over(_instance(sop=f"1.2.3.{number}"), claims=[])
        listener._note_refused(RefusedCaller(f"CALLER{number}", "QRSCOPE", "127.0.0.2",
                                             "not a known node", f"in-{number}"))
    connections, unexpected, refused = \
        listener.connections, listener.unexpected, listener.refused
    assert (len(connections), len(unexpected), len(refused)) == \
        (CONNECTIONS, UNEXPECTED, REFUSED)
    # The most recent are kept, in order.
    assert connections[-1].calling_ae == f"CALLER{total - 1}"
    assert connections[0].calling_ae == f"CALLER{total - CONNECTIONS}"
    assert unexpected[0].sop_instance_uid == f"1.2.3.{total - UNEXPECTED}"
    assert refused[0].calling_ae == f"CALLER{total - REFUSED}"
    assert len(listener.connections_since(0)) == CONNECTIONS
