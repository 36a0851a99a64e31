"""The words of a mapping file: its tables, their canonical fields, sources and conversions.

A field's type decides its default conversion, so that most fields are a bare path; the
parameters each conversion takes are listed here so that a misspelt one is a load error.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.canonical import Category, Function, MailClass

TEXT, HS, LINES, DECIMAL, INTEGER, WEIGHT, MONEY, TIME = (
    "text",
    "hs",
    "lines",
    "decimal",
    "integer",
    "weight",
    "money",
    "datetime",
)
FieldType = str | type[StrEnum]
"""A conversion name, or the enum whose values the field takes (code lists)."""

ITEM_FIELDS: dict[str, FieldType] = {
    "item_id": TEXT,
    "mail_class": MailClass,
    "category": Category,
    "category_explanation": TEXT,
    "origin_country": TEXT,
    "destination_country": TEXT,
    "posted_at": TIME,
    "gross_weight_kg": WEIGHT,
    "pieces": INTEGER,
    "total_value": MONEY,
    "postal_charges": MONEY,
    "function": Function,
    "revision": INTEGER,
}
ADDRESS_FIELDS: dict[str, FieldType] = {
    "lines": LINES,
    "street": TEXT,
    "house_number": TEXT,
    "postcode": TEXT,
    "city": TEXT,
    "region": TEXT,
    "country": TEXT,
}
PARTY_FIELDS: dict[str, FieldType] = {
    "name": TEXT,
    "name_original": TEXT,
    "business_name": TEXT,
    "phone": TEXT,
    "email": TEXT,
    **{f"address.{name}": kind for name, kind in ADDRESS_FIELDS.items()},
}
TAX_ID_FIELDS: dict[str, FieldType] = {"scheme": TEXT, "value": TEXT}
CONTENT_FIELDS: dict[str, FieldType] = {
    "line_no": INTEGER,
    "description": TEXT,
    "quantity": DECIMAL,
    "unit": TEXT,
    "net_weight_kg": WEIGHT,
    "value": MONEY,
    "hs_code": HS,
    "origin_country": TEXT,
}
DOCUMENT_FIELDS: dict[str, FieldType] = {"type": TEXT, "number": TEXT}
TRANSPORT_FIELDS: dict[str, FieldType] = {
    "dispatch_id": TEXT,
    "receptacle_id": TEXT,
    "carrier": TEXT,
    "flight": TEXT,
    "departure_at": TIME,
    "arrival_at": TIME,
}

SOURCES = ("path", "first", "join", "sum", "const")
PATH_PARAMS = ("unit_path", "currency_path", "country_path", "times")
"""Parameters that are paths, read relative to the field's own context."""

PARAMS: dict[str, set[str]] = {
    "text": {"only_non_latin", "remove"},
    "hs": set(),
    "phone": {"country_path"},
    "code": {"codes", "remove"},
    "match": {"patterns", "remove"},
    "decimal": {"decimal_comma", "times"},
    "integer": set(),
    "weight": {"unit", "unit_path", "decimal_comma", "times"},
    "money": {"currency", "currency_path", "minor_units", "decimal_comma", "times"},
    "datetime": {"zone"},
    "lines": set(),
}
"""Each conversion's parameters, besides the source keys, ``sep`` and ``convert``."""

NUMERIC = ("decimal", "integer", "weight", "money")
"""The conversions a ``sum`` may feed."""


def conversions_for(kind: FieldType) -> tuple[str, ...]:
    """The conversions a field of this type may use; the first is its default."""
    if not isinstance(kind, str):
        return ("code",)
    return {TEXT: ("text", "hs", "phone", "code", "match"), HS: ("hs", "text")}.get(kind, (kind,))
