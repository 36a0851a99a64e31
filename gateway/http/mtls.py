"""Mutual TLS for operators: the client certificate of the connection, checked against
the SHA-256 fingerprints in the operator's profile.

A certificate never authenticates alone: it is checked after the operator's key, as a
second factor. An operator whose profile sets ``require_client_cert`` is refused without
one of its certificates; any operator presenting a certificate that its profile does
not list (when it lists any) is refused too, so a certificate issued to one operator
cannot ride along with another operator's key.
"""

from __future__ import annotations

import ssl
from hashlib import sha256

from aiohttp import web

from gateway.codes import MessageCode
from gateway.config import ConfigError, Tls
from gateway.http.responses import ApiError
from gateway.operators import Profile


def peer_fingerprint(request: web.Request) -> str | None:
    """SHA-256 (lower-case hex) of the client certificate the connection was made with;
    None over plain HTTP or when the client sent none."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    return sha256(der).hexdigest() if der else None


def check(request: web.Request, profile: Profile) -> None:
    """403 ``certificate_refused`` unless the connection's certificate suits the profile."""
    fingerprint = peer_fingerprint(request)
    listed = profile.cert_fingerprints
    if profile.require_client_cert and fingerprint not in listed:
        what = "none was presented" if fingerprint is None else "this one is not listed"
        raise ApiError(
            403,
            MessageCode.CERTIFICATE_REFUSED,
            f"this operator must connect with one of its client certificates; {what}",
        )
    if fingerprint is not None and listed and fingerprint not in listed:
        raise ApiError(
            403,
            MessageCode.CERTIFICATE_REFUSED,
            "the client certificate is not one of this operator's",
        )


def server_ssl_context(tls: Tls) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP. With ``client_ca`` it asks every
    client for a certificate and verifies one against that CA; a client may still send
    none (targeting systems, admins, operators that need none): the operator's profile
    decides (``gateway.http.mtls``)."""
    if tls.cert is None and tls.key is None:
        if tls.client_ca is not None:
            raise ConfigError("tls.client_ca needs tls.cert and tls.key (HTTPS)")
        return None
    if tls.cert is None or tls.key is None:
        raise ConfigError("tls.cert and tls.key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca is not None:
            context.load_verify_locations(cafile=tls.client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls: {exc}") from None
    return context
