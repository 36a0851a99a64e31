"""A delivery channel: the rows of one outbox queue, the endpoint they are POSTed to,
and how a batch of them is rendered. Targeting records are one channel; customs
decisions pushed to operators' callback URLs are meant to be another, on the same worker.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from gateway.config import Retry, Target
from gateway.delivery.outbox import Batch


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a queue's batches go and how hard to try. ``name`` is the outbox queue."""

    name: str
    url: str
    batch_size: int = 500
    concurrency: int = 1
    timeout_s: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    retry: Retry = field(default_factory=Retry)
    circuit_failures: int = 5
    circuit_cooldown_s: float = 30.0
    gzip: bool = False

    @classmethod
    def from_target(cls, target: Target) -> Endpoint:
        return cls(
            name=target.name,
            url=target.url,
            batch_size=target.batch_size,
            concurrency=target.concurrency,
            timeout_s=target.timeout_s,
            headers=auth_headers(target.auth_header),
            tls_cert=target.tls_cert,
            tls_key=target.tls_key,
            tls_ca=target.tls_ca,
            retry=target.retry,
            circuit_failures=target.circuit_failures,
            circuit_cooldown_s=target.circuit_cooldown_s,
            gzip=target.gzip,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """Server verification against ``tls_ca`` and a client certificate for mTLS; None
        (the system's defaults) when no TLS file is set."""
        if not (self.tls_ca or self.tls_cert):
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


def auth_headers(value: str | None) -> dict[str, str]:
    """``auth_header``: ``"Name: value"`` sends that header; a bare value is sent as
    ``Authorization`` (``"Bearer abc"``)."""
    if not value:
        return {}
    name, sep, rest = value.partition(":")
    if sep and name.strip() and " " not in name.strip():
        return {name.strip(): rest.strip()}
    return {"Authorization": value.strip()}


@dataclass(frozen=True, slots=True)
class Payload:
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers, e.g. a signature of the body."""


class Channel(Protocol):
    """How the rows of a batch go on the wire, and how a refusal names them."""

    async def render(self, pool: asyncpg.Pool, batch: Batch) -> Payload: ...

    def rejected(self, batch: Batch, answer: Any) -> dict[int, str]:
        """Row ids a 4xx answer (parsed JSON, or None) refuses by name, with reasons."""
        ...
