"""The one catalogue of error and quality-flag codes (snake_case), with what each means.

Receipts, HTTP errors, metrics and the README all use these; a code that is not here is
a bug. ``python -m gateway.codes`` prints the catalogue as a Markdown table.
"""

from __future__ import annotations

from enum import StrEnum


class ItemCode(StrEnum):
    """Why one item of a message was rejected (the rest of the message goes on)."""

    S10_INVALID = "s10_invalid"
    S10_CHECK_DIGIT = "s10_check_digit"
    COUNTRY_UNKNOWN = "country_unknown"
    CURRENCY_UNKNOWN = "currency_unknown"
    HS_CODE_INVALID = "hs_code_invalid"
    REQUIRED_MISSING = "required_missing"
    VALUE_INVALID = "value_invalid"
    CODE_UNKNOWN = "code_unknown"
    DUPLICATE_IN_MESSAGE = "duplicate_in_message"
    REVISION_CONFLICT = "revision_conflict"
    ITEM_UNKNOWN = "item_unknown"
    ITEM_CANCELLED = "item_cancelled"


class Flag(StrEnum):
    """A quality issue kept on an accepted record: reported, never a rejection."""

    VAGUE_DESCRIPTION = "vague_description"
    VALUE_MISMATCH = "value_mismatch"
    WEIGHT_MISMATCH = "weight_mismatch"
    HS_TRUNCATED = "hs_truncated"
    PHONE_INVALID = "phone_invalid"


class MessageCode(StrEnum):
    """Why a whole request was refused (the ``error.code`` of an HTTP error body)."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNPARSEABLE = "unparseable"
    DOCTYPE_FORBIDDEN = "doctype_forbidden"
    PARSE_LIMIT = "parse_limit"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_LARGE = "too_large"
    FORMAT_UNKNOWN = "format_unknown"
    SCHEMA_INVALID = "schema_invalid"
    ITEM_COUNT_MISMATCH = "item_count_mismatch"
    ALL_OR_NOTHING = "all_or_nothing"
    MESSAGE_REF_MISSING = "message_ref_missing"
    MESSAGE_REF_REUSED = "message_ref_reused"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    VALUE_INVALID = "value_invalid"
    BAD_REQUEST = "bad_request"
    NOT_ACCEPTABLE = "not_acceptable"
    AMBIGUOUS_ITEM = "ambiguous_item"
    CURSOR_PURGED = "cursor_purged"
    RATE_LIMITED = "rate_limited"
    REQUEST_TIMEOUT = "request_timeout"
    CERTIFICATE_REFUSED = "certificate_refused"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    OVERLOADED = "overloaded"
    INTERNAL = "internal_error"


DESCRIPTIONS: dict[str, str] = {
    ItemCode.S10_INVALID: "item id is not an S10 identifier (AA123456789CC) and the operator "
    "may not use bilateral ids",
    ItemCode.S10_CHECK_DIGIT: "S10 check digit does not match the serial",
    ItemCode.COUNTRY_UNKNOWN: "not an ISO 3166-1 alpha-2 country code",
    ItemCode.CURRENCY_UNKNOWN: "not an ISO 4217 alpha-3 currency code",
    ItemCode.HS_CODE_INVALID: "HS code is not 6 to 10 digits (after removing dots and spaces)",
    ItemCode.REQUIRED_MISSING: "a field the item's category requires is missing",
    ItemCode.VALUE_INVALID: "a value could not be read (number, date, unit), is out of range, "
    "or holds a NUL or a lone surrogate; in a message's envelope the whole message is "
    "refused (422)",
    ItemCode.CODE_UNKNOWN: "a code is not in the operator's code list",
    ItemCode.DUPLICATE_IN_MESSAGE: "the same item id appeared earlier in this message",
    ItemCode.REVISION_CONFLICT: "the revision is not above the stored one",
    ItemCode.ITEM_UNKNOWN: "UPDATE or CANCEL of an item never seen",
    ItemCode.ITEM_CANCELLED: "the item was cancelled; only an identical resend is accepted",
    Flag.VAGUE_DESCRIPTION: "goods description is too vague for risk analysis (EU list)",
    Flag.VALUE_MISMATCH: "line values do not add up to the declared total value",
    Flag.WEIGHT_MISMATCH: "line net weights add up to more than the gross weight",
    Flag.HS_TRUNCATED: "a national HS code longer than 10 digits was cut to 10",
    Flag.PHONE_INVALID: "a phone number could not be put in E.164 form; kept as sent",
    MessageCode.UNAUTHORIZED: "no key, or an unknown or revoked key (401)",
    MessageCode.FORBIDDEN: "the key's scope does not allow this (403)",
    MessageCode.NOT_FOUND: "no such resource visible to this key (404)",
    MessageCode.UNPARSEABLE: "the body is not well-formed XML or JSON (400, line/column), or "
    "its gzip stream cannot be read whole (400, details.encoding = gzip and details.reason: "
    "header, data, truncated, trailer or crc)",
    MessageCode.DOCTYPE_FORBIDDEN: "XML with a DOCTYPE or entity declaration (400)",
    MessageCode.PARSE_LIMIT: "nesting depth or item count over the limit (400)",
    MessageCode.UNSUPPORTED_MEDIA_TYPE: "Content-Type or Content-Encoding not accepted (415)",
    MessageCode.TOO_LARGE: "body, or its decompressed form, over the size limit (413)",
    MessageCode.FORMAT_UNKNOWN: "no adapter of this operator recognises the document (422)",
    MessageCode.SCHEMA_INVALID: "the document does not validate against its schema (422)",
    MessageCode.ITEM_COUNT_MISMATCH: "a header's item count differs from the items sent (422)",
    MessageCode.ALL_OR_NOTHING: "the operator's profile rejects a message with any bad item (422)",
    MessageCode.MESSAGE_REF_MISSING: "the message carries no reference (422)",
    MessageCode.MESSAGE_REF_REUSED: "the reference was used before with other bytes, whatever "
    "the Idempotency-Key, by a message that had an item accepted (409)",
    MessageCode.IDEMPOTENCY_KEY_REUSED: "the Idempotency-Key was used before with other "
    "bytes (409)",
    MessageCode.BAD_REQUEST: "a query parameter the endpoint does not take, or a parameter, "
    "header or field that is malformed or out of range (400, details name it)",
    MessageCode.NOT_ACCEPTABLE: "the Accept header names no form this resource has (406)",
    MessageCode.AMBIGUOUS_ITEM: "several operators use this item id; add ?operator= (409)",
    MessageCode.CURSOR_PURGED: "entries after this cursor were purged, or lost in a restore "
    "from backup; restart without one (410)",
    MessageCode.RATE_LIMITED: "too many requests; retry after Retry-After seconds (429)",
    MessageCode.REQUEST_TIMEOUT: "the body arrived too slowly (limits.min_upload_bytes_per_s) "
    "or took too long (limits.body_timeout_s) (408)",
    MessageCode.CERTIFICATE_REFUSED: "the operator's profile requires one of its client "
    "certificates (mutual TLS), or the one presented is not its own (403)",
    MessageCode.METHOD_NOT_ALLOWED: "the resource has no such method; Allow lists those it "
    "has (405)",
    MessageCode.STORAGE_UNAVAILABLE: "the database is unreachable, busy, read-only or full "
    "(details.database); nothing was stored; resend after Retry-After seconds (503)",
    MessageCode.OVERLOADED: "the gateway holds too much request data or too many connections "
    "now; resend after Retry-After seconds (503)",
    MessageCode.INTERNAL: "a bug in the gateway, never the client's input (500)",
}


def catalogue_markdown() -> str:
    """The catalogue as the Markdown table the README shows."""
    kinds: dict[str, list[str]] = {}
    for kind, enum in (("item error", ItemCode), ("quality flag", Flag), ("request", MessageCode)):
        for code in enum:  # a code may name both an item error and a request refusal
            kinds.setdefault(code.value, []).append(kind)
    rows = ["| code | kind | meaning |", "|---|---|---|"]
    rows += [f"| `{code}` | {', '.join(k)} | {DESCRIPTIONS[code]} |" for code, k in kinds.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(catalogue_markdown())
