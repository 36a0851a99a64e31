"""A small hand-made case for the scorecard: three gamma messages whose every figure is
worked out by hand below (tests/test_scorecard.py checks the gateway agrees).

Message A (4 parcels):
  P1  two lines, HS 6109.10.00 (8 digits) and 9503.00 (6); departs 2 h after arrival
  P2  one line "gift" (vague), no HS code (a gift needs none); departs 10 h after
  P3  one line HS 7116.20; declared value 99.00 but the line is 10.00 (value mismatch),
      line weight 900 g in a 300 g parcel (weight mismatch), phone "12" (invalid);
      no departure time
  P4  a wrong S10 check digit: rejected (s10_check_digit)
Message B: P1 again with a changed value: an UPDATE (an amendment); departs 30 h after
Message C: not valid against gamma's schema: refused whole (422 schema_invalid)

Hand count: records (revisions with data) = P1, P2, P3, P1' = 4; originals 3,
amendments 1; content lines 2 + 1 + 1 + 2 = 6, with an HS code 2 + 0 + 1 + 2 = 5, of
more than 6 digits 1 + 0 + 0 + 1 = 2; vague 1, value mismatch 1, weight mismatch 1,
phone invalid 1, no departure 1 (P3); with a departure 3 (P1, P2, P1'), late under 4 h:
1 (P1); messages 3, refused 1; items received 4 + 1 + 0 = 5, rejected 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gateway.s10 import check_digit


def s10(serial: str, *, wrong: bool = False) -> str:
    digit = (check_digit(serial) + (1 if wrong else 0)) % 10
    return f"EA{serial}{digit}CN"


def _party(country: str, tel: str) -> dict[str, Any]:
    return {"name": "Test Person", "addr1": "1 Test Road", "city": "Testville",
            "zip": "10000", "countryCode": country, "tel": tel}


def parcel(
    serial: str,
    goods: list[dict[str, Any]],
    *,
    value: int,
    weight_g: int,
    departs_in_h: float | None,
    tel: str = "+86 755 2345 6789",
    wrong_digit: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trackingNo": s10(serial, wrong=wrong_digit),
        "serviceType": "EMS",
        "catCode": 1,
        "weightG": weight_g,
        "declaredValue": {"amount": value, "currency": "CNY"},
        "shipper": _party("CN", tel),
        "consignee": _party("US", "+1 217 555 0148"),
        "goods": goods,
    }
    if departs_in_h is not None:
        departs = datetime.now(UTC) + timedelta(hours=departs_in_h)
        body["etd"] = departs.isoformat(timespec="seconds")
    return body


def line(name: str, value: int, weight_g: int, hs: str | None) -> dict[str, Any]:
    goods: dict[str, Any] = {"nameEn": name, "qty": 1, "unitWeightG": weight_g,
                             "unitValue": value, "originCountry": "CN"}
    if hs is not None:
        goods["hsCode"] = hs
    return goods


def message(ref: str, parcels: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"batchNo": ref, "sentAt": "2026-11-28T17:02:11+08:00",
                         "parcels": parcels})


def p1(value: int, departs_in_h: float) -> dict[str, Any]:
    goods = [line("Cotton T-shirt", value, 200, "6109.10.00"),
             line("Wooden toy train", 1000, 300, "9503.00")]
    return parcel("28110100", goods, value=value + 1000, weight_g=1000,
                  departs_in_h=departs_in_h)


def message_a() -> bytes:
    """Built when sent: departure times are hours after now."""
    return message("SC-A", [
        p1(2000, 2.0),
        parcel("28110101", [line("gift", 500, 100, None)], value=500, weight_g=200,
               departs_in_h=10.0),
        parcel("28110102", [line("Jade bracelet", 1000, 900, "7116.20")], value=9900,
               weight_g=300, departs_in_h=None, tel="12"),
        parcel("28110103", [line("Silk scarf", 800, 100, "6214.10")], value=800,
               weight_g=200, departs_in_h=5.0, wrong_digit=True),
    ])


def message_b() -> bytes:
    return message("SC-B", [p1(2500, 30.0)])


MESSAGE_C = orjson.dumps({"batchNo": "SC-C", "parcels": "not a list"})

# The hand count of the docstring, as the scorecard's counts name them.
COUNTS = {
    "messages": 3, "messages_refused": 1, "items_received": 5, "items_rejected": 1,
    "records": 4, "originals": 3, "amendments": 1, "content_lines": 6,
    "with_departure": 3, "late": 1, "without_departure": 1,
}
VALUES = {
    "hs_code_share": 5 / 6,
    "hs_detailed_share": 2 / 6,
    "vague_description_share": 1 / 4,
    "value_mismatch_share": 1 / 4,
    "weight_mismatch_share": 1 / 4,
    "phone_invalid_share": 1 / 4,
    "rejected_share": 1 / 5,
    "late_share": 1 / 3,
    "no_departure_share": 1 / 4,
    "amendments_per_item": 1 / 3,
}
