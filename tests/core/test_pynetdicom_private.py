"""The private pynetdicom details qrscope relies on are still where they were."""

from __future__ import annotations

import inspect
import queue
from pathlib import Path
from types import SimpleNamespace

from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.presentation import PresentationContext

from qrscope.core.pynetdicom_private import grant_scp_role, wake_reader


def test_presentation_contexts_keep_their_role_in_as_scp():
    context = build_context("1.2.3.4")
    assert isinstance(context, PresentationContext)
    assert context.as_scp is None  # nothing negotiated yet
    context._as_scp = False
    assert context.as_scp is False


def test_grant_scp_role_takes_the_role_only_where_it_was_missing():
    granted, denied = build_context("1.2.3.4"), build_context("1.2.3.5")
    granted._as_scp, denied._as_scp = True, False

    assoc = SimpleNamespace(accepted_contexts=[granted, denied])
    assert grant_scp_role(assoc, {"1.2.3.4", "1.2.3.5"}) == ["1.2.3.5"]
    assert denied.as_scp is True


def test_the_dimse_reader_waits_on_a_message_queue():
    assert "self.msg_queue" in inspect.getsource(DIMSEServiceProvider.__init__)
    assert "dimse" in inspect.getsource(Association.__init__)

    class Dimse:
        msg_queue: queue.Queue = queue.Queue()

    class Assoc:
        dimse = Dimse()

    wake_reader(Assoc())
    assert Assoc.dimse.msg_queue.get_nowait() == (None, None)


def test_abort_primitives_keep_source_and_reason_where_we_read_them():
    from pynetdicom.pdu_primitives import A_ABORT, A_P_ABORT

    from qrscope.core.pynetdicom_private import abort_source_and_reason

    user = A_ABORT()
    user.abort_source = 0
    provider = A_P_ABORT()
    provider.provider_reason = 2
    assert abort_source_and_reason(user) == (0, None)
    assert abort_source_and_reason(provider) == (2, 2)


def test_pynetdicom_makes_received_data_set_files_with_the_name_we_replace(tmp_path):
    from pynetdicom import _config, dimse_messages

    from qrscope.core.pynetdicom_private import receive_data_sets_into

    source = inspect.getsource(dimse_messages.DIMSEMessage.decode_msg)
    assert "NamedTemporaryFile(" in source and "STORE_RECV_CHUNKED_DATASET" in source
    receive_data_sets_into(tmp_path / "incoming")
    assert _config.STORE_RECV_CHUNKED_DATASET is True
    with dimse_messages.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm") as fh:
        name = fh.name
    assert Path(name).parent == tmp_path / "incoming"
