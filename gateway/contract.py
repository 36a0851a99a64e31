"""The adapter contract: what an operator format must provide to plug into the gateway.

It lives in the core, not in the ``adapters`` plug-in package, so that adapters depend
on the gateway and never the other way round.

An adapter handles one format at one version (``alpha-itmatt`` version ``11``). The
gateway picks it among the formats the operator's profile allows by :meth:`detect`,
validates the document against :attr:`schema`, asks it for the message reference and then
for items. Everything else (canonical rules, revisions, storage) is the gateway's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from gateway.canonical import CanonicalItem
from gateway.codes import ItemCode, MessageCode
from gateway.document import Document, Kind


@dataclass(frozen=True, slots=True)
class ItemError:
    """One item rejected alone, with where it is in the source and why."""

    index: int
    item_id: str | None
    path: str
    code: ItemCode
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "item_id": self.item_id,
            "path": self.path,
            "code": self.code.value,
            "message": self.message,
        }


class MessageRejected(Exception):
    """The whole message is refused after parsing (422): a count check, say."""

    def __init__(self, code: MessageCode, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@runtime_checkable
class Adapter(Protocol):
    """Turns one operator format's document into canonical items or per-item errors."""

    operator: str
    """The operator this format was written for; other operators may be allowed it too."""
    format: str
    """Format id without version, e.g. ``alpha-itmatt``."""
    version: str
    kind: Kind
    schema: str | None
    """File name in ``xsd/`` (an XSD, or a JSON Schema for JSON kinds), or None."""

    def detect(self, doc: Document) -> bool:
        """Whether this document is in this format and version (root, namespace, shape)."""
        ...

    def message_ref(self, doc: Document) -> str | None:
        """The operator's reference for this message, or None if it carries none."""
        ...

    def translate(self, doc: Document) -> Iterator[CanonicalItem | ItemError]:
        """Items in source order; an item that cannot be translated is an ItemError."""
        ...


def source_format(adapter: Adapter) -> str:
    """The canonical ``source_format`` value, ``alpha-itmatt/11``."""
    return f"{adapter.format}/{adapter.version}"
