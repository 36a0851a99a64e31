"""The words of a mapping file: its tables, their canonical fields, sources and conversions.

A field's type decides its default conversion, so that most fields are a bare path; the
parameters each conversion takes are listed here so that a misspelt one is a load error.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.canonical import Category, Function, MailClass

TEXT, HS, LINES, DECIMAL, INTEGER, WEIGHT, MONEY, TIME, COUNTRY = (
    "text",
    "hs",
    "lines",
    "decimal",
    "integer",
    "weight",
    "money",
    "datetime",
    "country",
)
FieldType = str | type[StrEnum]
"""A conversion name, or the enum whose values the field takes (code lists)."""

ITEM_FIELDS: dict[str, FieldType] = {
    "item_id": TEXT,
    "mail_class": MailClass,
    "category": Category,
    "category_explanation": TEXT,
    "origin_country": COUNTRY,
    "destination_country": COUNTRY,
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
    "country": COUNTRY,
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
    "origin_country": COUNTRY,
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

SOURCES = ("path", "first", "join", "sum", "units", "field", "const")
"""Where a value comes from: one path; the first of several that has a value; the values
of several joined; the sum of many; a weight in several units (``units = { lb = ..., oz =
... }``); another field of the item (``field = "addressee.address.country"``); a constant."""
PATH_PARAMS = ("unit_path", "currency_path", "country_path", "zone_path", "times")
"""Parameters that are paths, read relative to the field's own context."""

TEXTUAL = {"remove", "slice"}
"""What text-like conversions do first: characters taken out, then a slice kept."""
PARAMS: dict[str, set[str]] = {
    "text": {"only_non_latin", *TEXTUAL},
    "hs": set(),
    "phone": {"country_path"},
    "code": {"codes", *TEXTUAL},
    "match": {"patterns", *TEXTUAL},
    "country": set(TEXTUAL),
    "decimal": {"decimal_comma", "times"},
    "integer": set(),
    "weight": {"unit", "unit_path", "decimal_comma", "times"},
    "money": {
        "currency",
        "currency_path",
        "currency_in_value",
        "symbols",
        "minor_units",
        "decimal_comma",
        "times",
    },
    "datetime": {"zone", "zone_path", "layout"},
    "lines": set(),
}
"""Each conversion's parameters, besides the source keys, ``sep`` and ``convert``."""

NUMERIC = ("decimal", "integer", "weight", "money")
"""The conversions a ``sum`` may feed."""


def conversions_for(kind: FieldType) -> tuple[str, ...]:
    """The conversions a field of this type may use; the first is its default."""
    if not isinstance(kind, str):
        return ("code", "match")
    return {
        TEXT: ("text", "hs", "phone", "code", "match", "country"),
        COUNTRY: ("text", "country", "code", "match"),
        HS: ("hs", "text"),
    }.get(kind, (kind,))


WHAT = {
    "text": "the text as sent",
    "hs": "an HS code without dots or spaces",
    "phone": "a phone number in E.164",
    "code": "a code list ([codes.NAME]; codes = NAME)",
    "match": "a pattern list ([patterns.NAME]; patterns = NAME)",
    "country": "a country's English name or ISO code",
    "decimal": "a decimal number",
    "integer": "a whole number",
    "weight": "a weight in kg",
    "money": "an amount and its currency",
    "datetime": "a date-time in UTC",
    "lines": "free address lines",
}
"""What each conversion makes, for load errors that list a field's choices."""
