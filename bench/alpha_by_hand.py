"""Alpha Post ITMATT v11 translated by hand: the yardstick of the compiled mappings.

Issue 9 asks the compiled ``adapters/alpha/itmatt-11.toml`` to run within 1.5x of an
adapter a good engineer would write by hand for the same format. This is that adapter:
one pass over each element's children, conversions inline, no generality. It gives
the same canonical items as the mapping (``bench/translate_speed.py --by-hand`` checks
that on every run) but no field paths and a single error per item, which a real adapter
would need: the comparison flatters it, not the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from adapters import convert
from adapters.convert import ConversionError
from gateway.canonical import (
    Address,
    CanonicalItem,
    Category,
    ContentLine,
    Document,
    MailClass,
    Money,
    Party,
    TaxId,
    Transport,
)
from gateway.codes import ItemCode
from gateway.contract import ItemError
from gateway.document import Document as Message
from gateway.document import Kind

NS = "{urn:alphapost:itmatt:11}"
ITEMS, ITEM, HEADER, REF = (NS + t for t in ("Items", "Item", "Header", "MessageRef"))
MAIL_CLASS = {"U": MailClass.LETTER, "C": MailClass.PARCEL, "E": MailClass.EMS}
CATEGORY = {
    "10": Category.GIFT,
    "20": Category.DOCUMENTS,
    "31": Category.SALE_OF_GOODS,
    "32": Category.COMMERCIAL_SAMPLE,
    "40": Category.RETURNED_GOODS,
    "91": Category.OTHER,
}
KG = {"kg": Decimal(1), "g": Decimal("0.001")}
N = len(NS)


def _text(el: object) -> str | None:
    if el is None:
        return None
    value = el.text  # type: ignore[attr-defined]
    return (value.strip() or None) if value else None


def _number(el: object) -> Decimal | None:
    value = _text(el)
    return None if value is None else convert.decimal(value)


def _kg(el: object) -> Decimal | None:
    value = _number(el)
    if value is None:
        return None
    unit = el.get("unit") or "kg"  # type: ignore[attr-defined]
    if unit not in KG:
        raise ConversionError(f"weight unit {unit!r}", unit)
    return value * KG[unit]


def _money(el: object) -> Money | None:
    value = _number(el)
    if value is None:
        return None
    currency = el.get("currency")  # type: ignore[attr-defined]
    if not currency:
        raise ConversionError("an amount without a currency", value)
    return Money(value, currency)


def _time(el: object) -> datetime | None:
    value = _text(el)
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ConversionError(f"{value!r} has no UTC offset", value)
    return parsed.astimezone(UTC)


def _party(el: object) -> Party:
    if el is None:
        return Party()
    k: dict[str, object] = {}
    taxes = []
    for child in el:  # type: ignore[attr-defined]
        tag = child.tag[N:]
        if tag == "TaxId":
            taxes.append(child)
        elif tag not in k:
            k[tag] = child
    get = k.get
    return Party(
        name=_text(get("Name")),
        business_name=_text(get("Business")),
        address=Address(
            street=_text(get("Street")),
            house_number=_text(get("HouseNumber")),
            postcode=_text(get("Postcode")),
            city=_text(get("City")),
            region=_text(get("State")),
            country=_text(get("Country")),
        ),
        phone=_text(get("Phone")),
        email=_text(get("Email")),
        tax_ids=[TaxId(t.get("scheme"), v) for t in taxes if (v := _text(t)) is not None],
    )


def _line(el: object, position: int) -> ContentLine:
    k = {child.tag[N:]: child for child in el}  # type: ignore[attr-defined]
    get = k.get
    number = _text(get("No"))
    return ContentLine(
        line_no=int(number) if number is not None else position,
        description=_text(get("Description")),
        quantity=_number(get("Quantity")),
        net_weight_kg=_kg(get("NetWeight")),
        value=_money(get("Value")),
        hs_code=convert.hs_code(_text(get("HSCode"))),
        origin_country=_text(get("Origin")),
    )


def _transport(el: object) -> Transport | None:
    if el is None:
        return None
    k = {child.tag[N:]: child for child in el}  # type: ignore[attr-defined]
    get = k.get
    transport = Transport(
        dispatch_id=_text(get("DispatchId")),
        receptacle_id=_text(get("ReceptacleId")),
        flight=_text(get("Flight")),
        departure_at=_time(get("Departure")),
    )
    return (
        transport
        if any(
            (
                transport.dispatch_id,
                transport.receptacle_id,
                transport.flight,
                transport.departure_at,
            )
        )
        else None
    )


def _code(table: dict, el: object, name: str) -> object:
    value = _text(el)
    if value is None:
        return None
    if value not in table:
        raise convert.UnknownCode(f"{value!r} is not in code list {name!r}", value)
    return table[value]


def item(el: object, position: int) -> CanonicalItem:
    k: dict[str, object] = {}
    for child in el:  # type: ignore[attr-defined]
        tag = child.tag[N:]
        if tag not in k:
            k[tag] = child
    get = k.get
    sender, addressee = get("Sender"), get("Addressee")
    contents = get("Contents")
    documents = get("Documents")
    return CanonicalItem(
        item_id=_text(get("ItemId")) or "",
        source_path=f"/ITMATT/Items/Item[{position}]",
        mail_class=_code(MAIL_CLASS, get("MailClass"), "mail_class"),  # type: ignore[arg-type]
        category=_code(CATEGORY, get("Category"), "category"),  # type: ignore[arg-type]
        category_explanation=_text(get("CategoryText")),
        origin_country=_text(sender.find(NS + "Country")) if sender is not None else None,
        destination_country=(
            _text(addressee.find(NS + "Country")) if addressee is not None else None
        ),
        posted_at=_time(get("PostingDate")),
        gross_weight_kg=_kg(get("GrossWeight")),
        total_value=_money(get("TotalValue")),
        postal_charges=_money(get("PostalCharges")),
        sender=_party(sender),
        addressee=_party(addressee),
        contents=[
            _line(line, n) for n, line in enumerate(contents if contents is not None else (), 1)
        ],
        documents=[
            Document(d.get("type"), d.get("number"))
            for d in (documents if documents is not None else ())
            if d.get("type") is not None or d.get("number") is not None
        ],
        transport=_transport(get("Transport")),
    )


class AlphaByHand:
    """The Adapter protocol for alpha-itmatt/11, written out."""

    operator = "alpha"
    format = "alpha-itmatt"
    version = "11"
    kind = Kind.XML
    schema = "alpha-itmatt-11.xsd"

    def detect(self, doc: Message) -> bool:
        return doc.kind is Kind.XML and doc.root.tag == NS + "ITMATT"

    def message_ref(self, doc: Message) -> str | None:
        header = doc.root.find(HEADER)
        return _text(header.find(REF)) if header is not None else None

    def translate(self, doc: Message) -> Iterator[CanonicalItem | ItemError]:
        items = doc.root.find(ITEMS)
        for index, el in enumerate(items.iterchildren(ITEM) if items is not None else ()):
            try:
                yield item(el, index + 1)
            except ConversionError as exc:
                code = (
                    ItemCode.CODE_UNKNOWN
                    if isinstance(exc, convert.UnknownCode)
                    else ItemCode.VALUE_INVALID
                )
                yield ItemError(index, None, f"/ITMATT/Items/Item[{index + 1}]", code, exc.message)
