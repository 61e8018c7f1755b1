"""DICOM over TLS (PS3.15 B.1): SSL contexts from our settings, and why a handshake failed.

pynetdicom wraps its sockets with an :class:`ssl.SSLContext` we hand it
(``tls_args`` in ``AE.associate``, ``ssl_context`` in ``AE.start_server``)
and only logs the ``ssl`` exception when the handshake fails. A user needs
the reason, because each has a different fix: the node's certificate is
signed by a CA we do not trust, it names another host, it has expired, or
one side speaks TLS and the other does not. :func:`probe_handshake` repeats
the handshake on a socket of our own to get the exception itself, and
:func:`classify_handshake_error` turns it into a :class:`TlsProblem`.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from qrscope.core.security import TlsSettings

__all__ = [
    "TlsProblem",
    "TlsReason",
    "TlsSettingsError",
    "classify_handshake_error",
    "client_context",
    "listener_context",
    "probe_handshake",
    "server_hostname",
    "speaks_tls",
]

# PS3.15 B.1 asks for TLS 1.2 at least (BCP 195); older versions are refused.
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

# OpenSSL's X509_V_ERR_* codes (x509_vfy.h), as ssl.SSLCertVerificationError.verify_code.
_UNKNOWN_CA_CODES = {2, 18, 19, 20, 21}
_EXPIRED_CODES = {9, 10}  # not yet valid, expired
_NAME_MISMATCH_CODES = {62, 64}  # host name, IP address mismatch

# OpenSSL reasons when the other end answered with something that is not TLS
# (a DICOM PDU, or nothing at all before closing).
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                    "HTTP_REQUEST", "UNEXPECTED_EOF_WHILE_READING", "UNKNOWN_PROTOCOL"}


class TlsReason(StrEnum):
    UNKNOWN_CA = "tls-unknown-ca"
    NAME_MISMATCH = "tls-name-mismatch"
    EXPIRED = "tls-certificate-expired"
    NOT_OFFERED = "tls-not-offered"
    """We spoke TLS; the node answered in plain DICOM or closed."""
    REQUIRED = "tls-required"
    """We spoke plain DICOM to a port that expects TLS."""
    HANDSHAKE_FAILED = "tls-handshake-failed"
    SETTINGS = "tls-settings-invalid"


class TlsSettingsError(ValueError):
    """A certificate, key or CA file that cannot be used; ``field`` names the setting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TlsProblem:
    """Why a TLS handshake failed: the reason, in words, and OpenSSL's own terms."""

    reason: TlsReason
    message: str
    openssl: str
    verify_code: int | None = None

    def evidence(self) -> dict[str, Any]:
        return {"tls_error": self.openssl, "verify_code": self.verify_code}


def _file(path: str, field: str) -> str:
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise TlsSettingsError(field, f"{field.replace('_', ' ')} {path} does not exist")
    return str(resolved)


def _load_own_certificate(context: ssl.SSLContext, tls: TlsSettings) -> None:
    cert = _file(tls.cert_file, "cert_file")
    key = _file(tls.key_file, "key_file") if tls.key_file else None
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsSettingsError("key_file", f"the certificate {tls.cert_file} and key "
                               f"{tls.key_file or '(in the same file)'} cannot be used "
                               f"together: {exc.reason or exc}") from exc


def _load_trust(context: ssl.SSLContext, tls: TlsSettings) -> None:
    if not tls.ca_file:
        context.load_default_certs()
        return
    try:
        context.load_verify_locations(cafile=_file(tls.ca_file, "ca_file"))
    except ssl.SSLError as exc:
        raise TlsSettingsError("ca_file", f"the CA file {tls.ca_file} holds no usable PEM "
                               f"certificate: {exc.reason or exc}") from exc


def client_context(tls: TlsSettings) -> ssl.SSLContext:
    """The context for calling a node: its chain and host name checked unless ``verify`` is off.

    Raises :class:`TlsSettingsError` when a file is missing or unusable.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_VERSION
    if tls.verify:
        _load_trust(context, tls)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        _load_own_certificate(context, tls)
    return context


class _LazyHandshakeContext(ssl.SSLContext):
    """A server context whose sockets shake hands in the association's own thread.

    pynetdicom wraps each accepted socket in its accept loop; with the default
    ``do_handshake_on_connect`` one caller that connects and says nothing would
    stop every other caller from being accepted. OpenSSL completes the handshake
    on the first read instead.
    """

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def listener_context(tls: TlsSettings) -> ssl.SSLContext | None:
    """The context for our listener, or None when its TLS is off.

    Our certificate and key are required. With a CA file and ``verify`` on,
    callers must present a certificate signed by that CA (like Orthanc's
    ``DicomTlsRemoteCertificateRequired``); without a CA file none is asked for.
    """
    if not tls.enabled:
        return None
    if not tls.cert_file:
        raise TlsSettingsError("cert_file", "the listener needs a certificate and key for TLS")
    context = _LazyHandshakeContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    _load_own_certificate(context, tls)
    if tls.ca_file and tls.verify:
        context.verify_mode = ssl.CERT_REQUIRED
        _load_trust(context, tls)
    return context


def server_hostname(tls: TlsSettings, host: str) -> str | None:
    """The name the node's certificate must carry: its host as configured."""
    return host if tls.verify else None


def classify_handshake_error(exc: BaseException) -> TlsProblem:
    """The reason for a failed handshake, from the exception ``ssl`` raised."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        text = exc.verify_message or str(exc)
        if code in _UNKNOWN_CA_CODES:
            return TlsProblem(TlsReason.UNKNOWN_CA, "its certificate is not signed by a CA we "
                              f"trust ({text})", text, code)
        if code in _EXPIRED_CODES:
            return TlsProblem(TlsReason.EXPIRED, f"its certificate is not valid now ({text})",
                              text, code)
        if code in _NAME_MISMATCH_CODES:
            return TlsProblem(TlsReason.NAME_MISMATCH, "its certificate is for another host "
                              f"name ({text})", text, code)
        return TlsProblem(TlsReason.HANDSHAKE_FAILED, f"its certificate was refused ({text})",
                          text, code)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        text = f"{reason or exc}"
        if reason in _NOT_TLS_REASONS or isinstance(exc, ssl.SSLEOFError):
            return TlsProblem(TlsReason.NOT_OFFERED, "it does not speak TLS on that port (it "
                              f"answered without TLS or closed: {text})", text)
        return TlsProblem(TlsReason.HANDSHAKE_FAILED, f"the TLS handshake failed: {text}", text)
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError):
        return TlsProblem(TlsReason.NOT_OFFERED, "it closed the connection at our TLS hello: "
                          "it does not speak TLS on that port", str(exc))
    return TlsProblem(TlsReason.HANDSHAKE_FAILED, f"the TLS handshake failed: {exc}", str(exc))


def probe_handshake(address: str, port: int, context: ssl.SSLContext,
                    hostname: str | None, timeout: float) -> BaseException | None:
    """Shake hands with the node on a socket of our own; the exception, or None if it works.

    After the handshake we wait briefly for the node's first bytes: with TLS
    1.3 a server that refuses our certificate says so only after the client
    considers the handshake done.
    """
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=hostname) as tls_socket:
            tls_socket.settimeout(min(timeout, 1.0))
            try:
                tls_socket.recv(1)
            except TimeoutError:
                return None
    except (ssl.SSLError, OSError) as exc:
        return exc
    return None


def speaks_tls(address: str, port: int, timeout: float) -> bool:
    """Whether the port completes a TLS handshake (certificates not checked)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                context.wrap_socket(raw) as tls_socket:
            return tls_socket.version() is not None
    except (ssl.SSLError, OSError):
        return False
