"""The canonical record v1: what every operator's format is translated into.

Defined once here; ``xsd/canonical.xsd`` and ``xsd/canonical.schema.json`` describe the
same shape and a test keeps the three in step. Values are typed (Decimal, datetime) in
memory and formatted only at the edge (:func:`record_to_dict`): money with the currency's
minor-unit scale, weights in kg with 3 decimals, times as UTC RFC 3339.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, get_args, get_origin, get_type_hints

import orjson
from babel.numbers import get_currency_precision

CANONICAL_VERSION = "1"


class Function(StrEnum):
    ORIGINAL = "ORIGINAL"
    UPDATE = "UPDATE"
    CANCEL = "CANCEL"


class MailClass(StrEnum):
    LETTER = "LETTER"
    PARCEL = "PARCEL"
    EMS = "EMS"
    OTHER = "OTHER"


class Category(StrEnum):
    GIFT = "GIFT"
    DOCUMENTS = "DOCUMENTS"
    COMMERCIAL_SAMPLE = "COMMERCIAL_SAMPLE"
    RETURNED_GOODS = "RETURNED_GOODS"
    SALE_OF_GOODS = "SALE_OF_GOODS"
    OTHER = "OTHER"


class ItemIdScheme(StrEnum):
    S10 = "S10"
    BILATERAL = "BILATERAL"


@dataclass(slots=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(slots=True)
class Address:
    lines: list[str] = field(default_factory=list)
    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None


@dataclass(slots=True)
class TaxId:
    scheme: str
    value: str


@dataclass(slots=True)
class Party:
    name: str | None = None
    name_original: str | None = None
    business_name: str | None = None
    address: Address = field(default_factory=Address)
    phone: str | None = None
    email: str | None = None
    tax_ids: list[TaxId] = field(default_factory=list)


@dataclass(slots=True)
class ContentLine:
    line_no: int
    description: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    net_weight_kg: Decimal | None = None
    value: Money | None = None
    hs_code: str | None = None
    origin_country: str | None = None


@dataclass(slots=True)
class Document:
    type: str
    number: str | None = None


@dataclass(slots=True)
class Transport:
    dispatch_id: str | None = None
    receptacle_id: str | None = None
    carrier: str | None = None
    flight: str | None = None
    departure_at: datetime | None = None
    arrival_at: datetime | None = None


@dataclass(slots=True)
class CanonicalItem:
    """One item as an adapter yields it, before the envelope (revision, ids) is known.

    ``function``/``revision`` are set only when the operator states them explicitly;
    otherwise the store decides (DOMAIN.md, "Amendments"). ``field_paths`` maps a
    canonical field (``sender.address.country``, ``contents[2].hs_code``) to where it came
    from in the source, so that a rule error can point into the operator's document (a
    mapping works its paths out only when they are asked for).
    """

    item_id: str
    source_path: str
    item_id_scheme: ItemIdScheme | None = None
    mail_class: MailClass | None = None
    category: Category | None = None
    category_explanation: str | None = None
    origin_country: str | None = None
    destination_country: str | None = None
    posted_at: datetime | None = None
    gross_weight_kg: Decimal | None = None
    pieces: int | None = None
    total_value: Money | None = None
    postal_charges: Money | None = None
    sender: Party = field(default_factory=Party)
    addressee: Party = field(default_factory=Party)
    contents: list[ContentLine] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    transport: Transport | None = None
    function: Function | None = None
    revision: int | None = None
    quality_flags: list[str] = field(default_factory=list)
    field_paths: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def path_of(self, canonical_field: str) -> str:
        """Where a canonical field came from: its own path, else its nearest recorded
        parent's (a missing ``contents[1].hs_code`` points at its line), else the item's."""
        name = canonical_field
        while name:
            if name in self.field_paths:
                return self.field_paths[name]
            cut = max(name.rfind("."), name.rfind("["))
            name = name[:cut] if cut > 0 else ""
        return self.source_path


@dataclass(slots=True)
class Envelope:
    """What the gateway adds around an item when it stores it."""

    record_id: str
    revision: int
    function: Function
    operator: str
    source_format: str
    message_id: str
    message_ref: str
    received_at: datetime
    raw_sha256: str


# Fields of CanonicalItem that belong to the envelope in the record's wire form or are
# bookkeeping only, never serialized as item data.
_ITEM_ONLY = {"field_paths", "function", "revision"}


@cache
def currency_scale(currency: str) -> int:
    """Minor-unit decimals of a currency (babel's CLDR data; looked up once per code)."""
    return get_currency_precision(currency)


@cache
def _amount_format(currency: str) -> str:
    """The format spec of an amount in this currency, built once per code rather than
    in a nested f-string for every amount (a third of format_money's time)."""
    return f".{currency_scale(currency)}f"


def format_money(money: Money) -> dict[str, str]:
    currency = money.currency
    return {"amount": format(money.amount, _amount_format(currency)), "currency": currency}


def format_kg(value: Decimal) -> str:
    return f"{value:.3f}"


def format_time(value: datetime) -> str:
    """UTC RFC 3339 with a ``Z``; seconds kept, sub-seconds only when present."""
    # in UTC the offset is always "+00:00": cut off, cheaper than a naive copy to format
    return value.astimezone(UTC).isoformat()[:-6] + "Z"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time a person gave (a filter, ``--since``): UTC when it carries no
    offset. ValueError when it is not one."""
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _decimal(value: Decimal) -> str:
    return format(value.normalize(), "f")


Convert = Callable[[Any], Any]


def _converter(name: str, hint: Any) -> Convert | None:
    """How a field of this type becomes JSON (None: as it is)."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) is list:
        inner = _converter(name, args[0])
        return None if inner is None else (lambda values: [inner(v) for v in values])
    if len(args) == 1:  # X | None
        return _converter(name, args[0])
    if hint is Money:
        return format_money
    if hint is Decimal:
        return format_kg if name.endswith("_kg") else _decimal
    if hint is datetime:
        return format_time
    if is_dataclass(hint):
        return _serializer(hint)
    return None


@cache
def _serializer(cls: type) -> Convert:
    """A function writing a ``cls`` as a dict, generated once per class: one dict display
    of its serialized fields, each converter bound by name. The record body is built for
    every stored item, so no loop over fields and no reflection per value (a third of
    the generic loop's time)."""
    hints = get_type_hints(cls)
    bound: dict[str, Any] = {}
    entries = []
    for f in fields(cls):
        if f.name in _ITEM_ONLY:
            continue
        convert = _converter(f.name, hints[f.name])
        if convert is None:
            entries.append(f"{f.name!r}: v.{f.name}")
        else:
            bound[f"c_{f.name}"] = convert
            entries.append(f"{f.name!r}: None if (x := v.{f.name}) is None else c_{f.name}(x)")
    source = "def to_dict(v):\n    return {" + ", ".join(entries) + "}\n"
    exec(compile(source, f"<serializer of {cls.__name__}>", "exec"), bound)
    return bound["to_dict"]


def item_to_dict(item: CanonicalItem) -> dict[str, Any]:
    """The item's data in wire form (no envelope): what fixtures and ``translate`` show."""
    return _serializer(CanonicalItem)(item)


def envelope_to_dict(envelope: Envelope) -> dict[str, Any]:
    return _record_fields(envelope.record_id, envelope.revision, envelope.function) | (
        message_fields(
            envelope.operator,
            envelope.source_format,
            envelope.message_id,
            envelope.message_ref,
            envelope.received_at,
            envelope.raw_sha256,
        )
    )


def _record_fields(record_id: str, revision: int, function: Function) -> dict[str, Any]:
    """The envelope's fields that differ between the records of one message, first."""
    return {
        "record_id": record_id,
        "canonical_version": CANONICAL_VERSION,
        "revision": revision,
        "function": function.value,
    }


def message_fields(
    operator: str,
    source_format: str,
    message_id: str,
    message_ref: str,
    received_at: datetime,
    raw_sha256: str,
) -> dict[str, Any]:
    """The envelope's fields that every record of one message shares."""
    return {
        "operator": operator,
        "source_format": source_format,
        "message_id": message_id,
        "message_ref": message_ref,
        "received_at": format_time(received_at),
        "raw_sha256": raw_sha256,
    }


def record_to_dict(envelope: Envelope, item: CanonicalItem) -> dict[str, Any]:
    """The canonical record v1 in its JSON form: envelope first, then the item."""
    return envelope_to_dict(envelope) | item_to_dict(item)


class RecordBodies:
    """The records of one message as canonical JSON, the bytes of ``record_to_dict``: the
    envelope's shared fields serialised once for the message, and each record's own
    fields and item data joined to them as JSON (no key is in two parts), rather than an
    Envelope, its dict and a merged dict serialised again for every record."""

    def __init__(self, shared: dict[str, Any]) -> None:
        """``shared``: the message's :func:`message_fields`."""
        self._shared = b"," + orjson.dumps(shared)[1:-1] + b","

    def body(
        self, record_id: str, revision: int, function: Function, item: dict[str, Any]
    ) -> bytes:
        """One record's JSON; ``item`` is its ``item_to_dict``, never empty."""
        own = orjson.dumps(_record_fields(record_id, revision, function))
        return b"".join((own[:-1], self._shared, orjson.dumps(item)[1:]))
