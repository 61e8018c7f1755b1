"""DICOM over TLS against our own listener: it works, and every failure says why.

Each failure is provoked for real: a listener with a certificate from a CA
we do not trust, for another host name, expired; TLS to a plain port, plain
DICOM to a TLS port; a listener that wants a client certificate we lack.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.tls_certs import Pki, make_pki

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode, Timeouts
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.security import TlsSettings
from qrscope.diagnosis.hints import hint_for_failure, hint_for_listener_error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _listener_tls(pki: Pki, pair=None, require_client: bool = False) -> TlsSettings:
    pair = pair or pki.server
    return TlsSettings(enabled=True, cert_file=str(pair.cert), key_file=str(pair.key),
                       ca_file=str(pki.ca) if require_client else "", verify=True)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """Start a listener of ours (AE LISTENER) with the given TLS settings; stopped after."""
    started: list[StorageListener] = []

    def start(listener_tls: TlsSettings) -> StorageListener:
        local = LocalAE(ae_title="LISTENER", listener_port=_free_port(),
                        bind_address="127.0.0.1", storage_folder=tmp_path / "in",
                        listener_tls=listener_tls)
        listener = StorageListener(local, AssociationLog())
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def _node(port: int, tls: TlsSettings, host: str = "127.0.0.1") -> RemoteNode:
    return RemoteNode(name="secure", ae_title="LISTENER", host=host, port=port, tls=tls,
                      timeouts=Timeouts(connect=3, association=3, response=3))


def _client_tls(pki: Pki, **changes) -> TlsSettings:
    return replace(TlsSettings(enabled=True, ca_file=str(pki.ca)), **changes)


def _fails(node: RemoteNode) -> tuple[AssociationFailure, AssociationLog]:
    log = AssociationLog()
    with pytest.raises(AssociationFailure) as info:
        verify(node, LocalAE(), log)
    return info.value, log


def test_echo_over_tls_to_our_listener_checks_chain_and_host_name(pki, serve):
    listener = serve(_listener_tls(pki))
    log = AssociationLog()
    result = verify(_node(listener.port, _client_tls(pki)), LocalAE(), log)
    assert result.ok
    tls_lines = [e for e in log.events() if e.kind == "tls"]
    assert tls_lines and "host name checked" in tls_lines[0].summary


def test_host_name_localhost_matches_the_certificate(pki, serve):
    listener = serve(_listener_tls(pki))
    assert verify(_node(listener.port, _client_tls(pki), host="localhost"), LocalAE(),
                  AssociationLog()).ok


def test_unknown_ca_gives_hint_naming_the_ca(pki, serve):
    listener = serve(_listener_tls(pki, pki.stranger))
    node = _node(listener.port, _client_tls(pki))
    failure, log = _fails(node)
    assert failure.reason is FailureReason.TLS_UNKNOWN_CA
    hint = hint_for_failure(failure, node, LocalAE())
    assert hint.id == "tls-unknown-ca"
    assert "unable to get local issuer certificate" in str(hint.evidence["tls_error"])
    assert str(pki.ca) in hint.summary
    assert log.events()[-1].detail["reason"] == "tls-unknown-ca"


def test_certificate_for_another_host_gives_name_mismatch(pki, serve):
    listener = serve(_listener_tls(pki, pki.wrong_name))
    node = _node(listener.port, _client_tls(pki))
    failure, _ = _fails(node)
    assert failure.reason is FailureReason.TLS_NAME_MISMATCH
    hint = hint_for_failure(failure, node, LocalAE())
    assert hint.id == "tls-name-mismatch"
    assert "127.0.0.1" in hint.summary


def test_expired_certificate_gives_hint(pki, serve):
    listener = serve(_listener_tls(pki, pki.expired))
    node = _node(listener.port, _client_tls(pki))
    failure, _ = _fails(node)
    assert failure.reason is FailureReason.TLS_EXPIRED
    assert hint_for_failure(failure, node, LocalAE()).id == "tls-certificate-expired"


def test_verification_off_accepts_any_certificate_and_says_so(pki, serve):
    listener = serve(_listener_tls(pki, pki.expired))
    log = AssociationLog()
    node = _node(listener.port, TlsSettings(enabled=True, verify=False))
    assert verify(node, LocalAE(), log).ok
    assert any("NOT checked" in e.summary for e in log.events() if e.kind == "tls")


def test_tls_to_a_plain_port_gives_not_offered(pki, serve):
    listener = serve(TlsSettings())
    node = _node(listener.port, _client_tls(pki))
    failure, _ = _fails(node)
    assert failure.reason is FailureReason.TLS_NOT_OFFERED
    hint = hint_for_failure(failure, node, LocalAE())
    assert hint.id == "tls-not-offered"


def test_plain_dicom_to_a_tls_port_gives_tls_required(pki, serve):
    listener = serve(_listener_tls(pki))
    node = _node(listener.port, TlsSettings())
    failure, _ = _fails(node)
    assert failure.reason is FailureReason.TLS_REQUIRED
    hint = hint_for_failure(failure, node, LocalAE())
    assert hint.id == "tls-required"
    assert any(a.field == "tls" for a in hint.actions)


def test_listener_requiring_a_client_certificate(pki, serve):
    listener = serve(_listener_tls(pki, require_client=True))
    without = _node(listener.port, _client_tls(pki))
    failure, _ = _fails(without)
    assert failure.reason is FailureReason.TLS_HANDSHAKE_FAILED
    hint = hint_for_failure(failure, without, LocalAE())
    assert hint.id == "tls-handshake-failed"
    assert "certificate" in hint.summary.lower()
    with_cert = _node(listener.port, _client_tls(pki, cert_file=str(pki.client.cert),
                                                 key_file=str(pki.client.key)))
    assert verify(with_cert, LocalAE(), AssociationLog()).ok


def test_missing_ca_file_is_refused_before_connecting(pki, tmp_path):
    node = _node(_free_port(), _client_tls(pki, ca_file=str(tmp_path / "nope.pem")))
    failure, log = _fails(node)
    assert failure.reason is FailureReason.TLS_SETTINGS
    hint = hint_for_failure(failure, node, LocalAE())
    assert hint.id == "tls-settings-invalid"
    assert "nope.pem" in hint.summary
    assert not [e for e in log.events() if e.kind == "connection-opened"]


def test_listener_without_a_usable_key_does_not_start(pki, serve):
    bad = TlsSettings(enabled=True, cert_file=str(pki.server.cert),
                      key_file=str(pki.client.key))
    with pytest.raises(ListenerError) as info:
        serve(bad)
    hint = hint_for_listener_error(info.value, LocalAE(listener_tls=bad))
    assert hint.id == "listener-tls-invalid"


def test_a_silent_caller_does_not_block_the_tls_listener(pki, serve):
    """The handshake runs in the association's thread, not in the accept loop."""
    listener = serve(_listener_tls(pki))
    with socket.create_connection(("127.0.0.1", listener.port)):
        assert verify(_node(listener.port, _client_tls(pki)), LocalAE(),
                      AssociationLog()).ok
