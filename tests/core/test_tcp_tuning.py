"""Our sockets never wait on delayed ACKs or Nagle (core/net/tcp.py): checked as options,
not timed (the benchmark measures the effect, docs/PERFORMANCE.md)."""

from __future__ import annotations

import socket

import pytest

from qrscope.core.engine import choice
from qrscope.core.engine.pynetdicom_private import peer_socket
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import make_ae, open_association
from qrscope.core.net.tcp import QuickAckSocket, tune


def _pair() -> tuple[socket.socket, socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    server.close()
    return client, accepted


def test_tuned_sockets_send_without_nagle():
    client, accepted = _pair()
    with client, accepted:
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        tune(client)
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
def test_quick_ack_is_armed_again_after_every_read():
    client, accepted = _pair()
    with client, accepted:
        wrapped = QuickAckSocket.adopt(accepted)
        with wrapped:
            for _ in range(3):
                client.sendall(b"x")
                assert wrapped.recv(1) == b"x"
                assert wrapped.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
            # A real socket, not a proxy: pynetdicom's type checks hold without pretence.
            assert type(wrapped).__mro__[-3:] == socket.socket.__mro__
            assert "__class__" not in vars(type(wrapped))


def test_associations_we_open_are_tuned(demo):
    from pynetdicom import build_context
    from pynetdicom.sop_class import Verification

    ae = make_ae(demo.local, demo.node)
    out = open_association(ae, demo.node, AssociationLog(), [build_context(Verification)])
    try:
        sock = peer_socket(out.assoc)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        # The quick-ACK wrapper is a piece of the tuned engine; the stock engine keeps
        # pynetdicom's own socket (core/engine/choice.py).
        assert isinstance(sock, QuickAckSocket) == choice.current().uses("quick_ack")
    finally:
        out.close()


def test_tls_sockets_of_our_contexts_acknowledge_at_once_and_are_true_ssl_sockets():
    """Our client context makes quick-ACK TLS sockets itself (``sslsocket_class``), so
    pynetdicom's ``isinstance(sock, ssl.SSLSocket)`` finds TLS-buffered data."""
    import ssl

    from qrscope.core.net.tcp import QuickAckTlsSocket, quick_ack_context

    context = quick_ack_context(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    client, accepted = _pair()
    with accepted:
        wrapped = context.wrap_socket(client, do_handshake_on_connect=False,
                                      server_hostname="localhost")
        with wrapped:
            assert isinstance(wrapped, QuickAckTlsSocket) and isinstance(wrapped, ssl.SSLSocket)
            assert "__class__" not in vars(QuickAckTlsSocket)
