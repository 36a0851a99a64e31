"""The receipt: what the gateway answers for a message, and answers again on a resend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.canonical import format_time
from gateway.contract import ItemError


class Status(StrEnum):
    ACCEPTED = "accepted"
    PARTIALLY_ACCEPTED = "partially_accepted"
    REJECTED = "rejected"

    @classmethod
    def of(cls, received: int, taken: int) -> Status:
        """``taken`` counts accepted and unchanged items: everything not rejected."""
        if taken == received:
            return cls.ACCEPTED
        return cls.PARTIALLY_ACCEPTED if taken else cls.REJECTED


@dataclass(slots=True)
class Receipt:
    message_id: str
    operator: str
    message_ref: str | None
    received_at: datetime
    source_format: str | None = None
    received: int = 0
    accepted: int = 0
    unchanged: int = 0
    errors: list[ItemError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected(self) -> int:
        return self.received - self.accepted - self.unchanged

    @property
    def status(self) -> Status:
        return Status.of(self.received, self.accepted + self.unchanged)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": self.message_id,
            "operator": self.operator,
            "message_ref": self.message_ref,
            "received_at": format_time(self.received_at),
            "source_format": self.source_format,
            "status": self.status.value,
            "items": {
                "received": self.received,
                "accepted": self.accepted,
                "rejected": self.rejected,
                "unchanged": self.unchanged,
            },
            "errors": [e.to_dict() for e in self.errors],
        }
        if self.dry_run:
            body["dry_run"] = True
        return body
