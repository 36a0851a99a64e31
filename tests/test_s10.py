"""S10 identifiers: the worked examples of DOMAIN.md, worked again by hand below."""

from __future__ import annotations

import pytest

from gateway.s10 import S10, check_digit, is_valid, parse_s10


@pytest.mark.parametrize(
    ("serial", "digit"),
    [
        # 4*8+7*6+3*4+1*2+2*3+4*5+8*9+2*7 = 200; 200 mod 11 = 2; 11-2 = 9
        ("47312482", 9),
        # 2*8+8*6+7*4+0*2+4*3+3*5+7*9+7*7 = 231; 231 mod 11 = 0; 11 -> 5
        ("28704377", 5),
        # 8*8+0*6+6*4+5*2+7*3+6*5+7*9+2*7 = 226; 226 mod 11 = 6; 11-6 = 5
        ("80657672", 5),
        # 8*7 = 56; 56 mod 11 = 1; 11-1 = 10 -> 0
        ("00000008", 0),
    ],
)
def test_check_digit_worked_examples(serial: str, digit: int) -> None:
    assert check_digit(serial) == digit


@pytest.mark.parametrize("serial", ["1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨", ""])
def test_check_digit_refuses_anything_but_eight_ascii_digits(serial: str) -> None:
    with pytest.raises(ValueError):
        check_digit(serial)


def test_parse_gives_the_four_parts() -> None:
    assert parse_s10("RR287043775IN") == S10("RR", "28704377", 5, "IN")


@pytest.mark.parametrize("text", ["RR287043775IN", "LX806576725TW", "RR123456785GB"])
def test_valid_ids(text: str) -> None:
    assert is_valid(text)


def test_bad_check_digit_parses_but_is_not_valid() -> None:
    # 1*8+2*6+3*4+4*2+5*3+6*5+7*9+8*7 = 204; 204 mod 11 = 6; 11-6 = 5, not 4
    parsed = parse_s10("RR123456784GB")
    assert parsed is not None
    assert (parsed.check_digit, parsed.expected_check_digit) == (4, 5)
    assert not is_valid("RR123456784GB")


def test_unknown_issuing_country_is_not_valid() -> None:
    assert parse_s10("RR287043775ZZ") is not None
    assert not is_valid("RR287043775ZZ")


@pytest.mark.parametrize(
    "text",
    [
        "RR28704377IN",  # eight digits in all
        "RR2870437755IN",  # ten digits
        "R1287043775IN",  # digit in the service indicator
        "RR287043775I",  # one country letter
        " RR287043775IN",  # not stripped
        "RR 287 043 775 IN",
        "RR２８７０４３７７５IN",  # fullwidth digits are not S10 digits
        "",
    ],
)
def test_bad_shape(text: str) -> None:
    assert parse_s10(text) is None
    assert not is_valid(text)


def test_lower_case_is_not_parsed_the_rules_upper_case_first() -> None:
    assert parse_s10("rr287043775in") is None
    assert is_valid("rr287043775in".upper())
