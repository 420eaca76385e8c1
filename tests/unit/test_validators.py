"""Known-valid and known-invalid vectors for handover.validators."""

from __future__ import annotations

import datetime as dt
import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

try:
    from handover import validators as v
    from handover.canonical import FORMATS
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "include"))
    from handover import validators as v
    from handover.canonical import FORMATS

VALID_ID = "11010519491231002X"
VALID_USCC = "91110000600037341L"


def with_check(body17: str) -> str:
    """A resident ID whose check character is right, so that only the other rules can fail."""
    return body17 + v.resident_id_check_char(body17)


# --------------------------------------------------------------------------------------------------
# Resident ID
# --------------------------------------------------------------------------------------------------


def test_resident_id_check_char() -> None:
    assert v.resident_id_check_char("11010519491231002") == "X"
    assert v.resident_id_check_char("44030120000229123") == "7"


@pytest.mark.parametrize(
    "body", ["1101051949123100", "1101051949123100A", "", "１１０１０５１９４９１２３１００２"]
)
def test_resident_id_check_char_rejects_bad_body(body: str) -> None:
    with pytest.raises(ValueError) as info:
        v.resident_id_check_char(body)
    assert body not in str(info.value) or not body  # no customer value in the message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VALID_ID, True),
        ("440301200002291237", True),  # 2000-02-29: leap day
        (with_check("11010519000101001"), True),  # 1900: the lower bound
        (with_check("81000019800101001"), True),  # Hong Kong
        ("110105194912310021", False),  # last char changed
        ("110105194912310020", False),
        ("11010519491231002x", False),  # lower-case x: normalise first
        (with_check("11010519490230002"), False),  # 1949-02-30 with a correct check char
        (with_check("11010519491301002"), False),  # month 13
        (with_check("44030120010229123"), False),  # 2001 is not a leap year
        (with_check("11010518991231002"), False),  # before 1900
        (with_check("11010599991231002"), False),  # in the future
        (with_check("99010519491231002"), False),  # no province 99
        (with_check("00010519491231002"), False),
        (with_check("16010519491231002"), False),
        ("11010519491231002", False),  # 17 chars
        ("11010519491231002XX", False),  # 19 chars
        ("110105491231002", False),  # first-generation 15-digit ID
        ("1101051949123100 X", False),
        ("11010519491231002Ｘ", False),
        ("１１０１０５１９４９１２３１００２Ｘ", False),  # full-width: normalise first
        ("4.40106E+17", False),
        (VALID_USCC, False),  # a USCC is not a resident ID
        ("", False),
        (None, False),
    ],
)
def test_is_resident_id(value: str | None, expected: bool) -> None:
    assert v.is_resident_id(value) is expected


def test_is_resident_id_future_is_relative_to_today() -> None:
    value = with_check("11010520300101001")
    assert not v.is_resident_id(value)
    assert v.is_resident_id(value, today=dt.date(2030, 1, 1))
    assert not v.is_resident_id(value, today=dt.date(2029, 12, 31))


@pytest.mark.parametrize(
    ("value", "birth", "sex"),
    [
        (VALID_ID, dt.date(1949, 12, 31), "F"),  # 17th digit 2
        ("440301200002291237", dt.date(2000, 2, 29), "M"),  # 17th digit 3
        ("110105194912310021", None, None),
        (None, None, None),
    ],
)
def test_resident_id_birth_date_and_sex(value: str | None, birth: dt.date | None, sex: str | None) -> None:
    assert v.resident_id_birth_date(value) == birth
    assert v.resident_id_sex(value) == sex


# --------------------------------------------------------------------------------------------------
# USCC
# --------------------------------------------------------------------------------------------------


def test_uscc_check_char() -> None:
    assert v.uscc_check_char("91110000600037341") == "L"
    with pytest.raises(ValueError):
        v.uscc_check_char("9111000060003734I")  # I is not in the alphabet


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VALID_USCC, True),
        ("91110000600037341M", False),  # check char changed
        ("91110000600037342L", False),  # a body char changed
        ("81110000600037341L", False),
        ("91110000600037341l", False),  # lower case: normalise first
        ("9111000060003734IL", False),  # I is not in the alphabet
        ("91110000600037341", False),
        ("91110000600037341LL", False),
        (VALID_ID, False),  # a resident ID is not a USCC
        ("", False),
        (None, False),
    ],
)
def test_is_uscc(value: str | None, expected: bool) -> None:
    assert v.is_uscc(value) is expected


# --------------------------------------------------------------------------------------------------
# Luhn, bank cards
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "digit"),
    [("622202123456789012", "8"), ("411111111111111", "1"), ("7992739871", "3"), ("0", "0")],
)
def test_luhn_check_digit(body: str, digit: str) -> None:
    assert v.luhn_check_digit(body) == digit
    assert v.is_luhn(body + digit)


@pytest.mark.parametrize("body", ["", "12a4", "１２３"])
def test_luhn_check_digit_rejects_non_digits(body: str) -> None:
    with pytest.raises(ValueError):
        v.luhn_check_digit(body)


@pytest.mark.parametrize(
    ("value", "luhn", "card"),
    [
        ("4111111111111111", True, True),  # 16 digits
        ("4111111111111112", False, False),
        ("6222021234567890128", True, True),  # 19 digits, UnionPay
        ("6222021234567890123", False, False),
        ("6222600260001072444", True, True),
        ("622202123456789012", True, True),  # 18 digits
        ("378282246310005", True, False),  # 15 digits: Luhn-valid but too short for a bank card
        ("62220212345678901283", True, False),  # 20 digits, Luhn-valid
        ("6222 0212 3456 7890 128", False, False),  # normalise first
        ("6.22202E+18", False, False),
        ("79927398713", True, False),
        ("0", False, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_luhn_and_bank_card(value: str | None, luhn: bool, card: bool) -> None:
    assert v.is_luhn(value) is luhn
    assert v.is_bank_card(value) is card


# --------------------------------------------------------------------------------------------------
# Phones, e-mail
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", True),
        ("19912345678", True),
        ("16612345678", True),
        ("12800138000", False),  # second digit 2
        ("1380013800", False),  # 10 digits
        ("138001380000", False),  # 12 digits
        ("+8613800138000", False),  # normalise first
        ("138-0013-8000", False),
        ("１３８００１３８０００", False),
        ("1.38001E+10", False),
        ("", False),
        (None, False),
    ],
)
def test_is_mobile(value: str | None, expected: bool) -> None:
    assert v.is_mobile(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("010-12345678", True),
        ("0755-1234567", True),
        ("021-12345678-123", True),
        ("01012345678", True),
        ("07551234567", True),
        ("010-1234567", True),
        ("010-123456", False),  # local number too short
        ("010-123456789", False),  # too long
        ("0010-12345678", False),  # 00 is the international prefix
        ("10-12345678", False),  # no leading 0
        ("(010)12345678", False),  # normalise first
        ("13800138000", False),  # a mobile
        ("021-12345678-", False),
        ("", False),
        (None, False),
    ],
)
def test_is_landline(value: str | None, expected: bool) -> None:
    assert v.is_landline(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zhang.san@example.com", True),
        ("12345678@qq.com", True),
        ("a+tag@mail.example.com.cn", True),
        ("first_last@sub-domain.example.org", True),
        ("no-at-sign.example.com", False),
        ("two@@example.com", False),
        ("a@b@example.com", False),
        ("space in@example.com", False),
        ("dot..dot@example.com", False),
        (".lead@example.com", False),
        ("user@localhost", False),
        ("user@example.c", False),
        ("user@-example.com", False),
        ("张三@example.com", False),
        ("a" * 250 + "@example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_email(value: str | None, expected: bool) -> None:
    assert v.is_email(value) is expected


# --------------------------------------------------------------------------------------------------
# Scientific notation, code lists
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4.40106E+17", True),
        ("4.40106e17", True),
        ("1.1E+17", True),
        ("6.22202E+18", True),
        ("1E10", True),
        ("-1.5e-3", True),
        ("440106199001011234", False),
        ("11010519491231002X", False),
        ("1.5", False),
        ("E+17", False),
        ("4.40106E", False),
        ("", False),
        (None, False),
    ],
)
def test_is_scientific_notation(value: str | None, expected: bool) -> None:
    assert v.is_scientific_notation(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("M", True), ("F", True), ("m", False), ("男", False), ("X", False), (None, False)],
)
def test_is_gender(value: str | None, expected: bool) -> None:
    assert v.is_gender(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CNY", True),
        ("USD", True),
        ("HKD", True),
        ("MOP", True),
        ("TWD", True),
        ("cny", False),
        ("RMB", False),  # not ISO 4217: normalise maps it to CNY
        ("人民币", False),
        ("", False),
        (None, False),
    ],
)
def test_is_currency(value: str | None, expected: bool) -> None:
    assert v.is_currency(value) is expected


def test_format_validators_cover_the_canonical_formats() -> None:
    # document numbers are checked by their type (handover.documents); expiry is a date
    assert set(v.FORMAT_VALIDATORS) == set(FORMATS) - {"document", "expiry"}
    assert v.FORMAT_VALIDATORS["resident_id"] is v.is_resident_id
    assert v.FORMAT_VALIDATORS["bank_card"] is v.is_bank_card


def test_weights_and_alphabet() -> None:
    assert len(v.RESIDENT_ID_WEIGHTS) == 17
    assert v.RESIDENT_ID_WEIGHTS == tuple(2 ** (17 - i) % 11 for i in range(17))
    assert len(v.USCC_ALPHABET) == 31 and not set("IOSVZ") & set(v.USCC_ALPHABET)
    assert v.USCC_WEIGHTS == tuple(3**i % 31 for i in range(17))


# --------------------------------------------------------------------------------------------------
# valid_mask
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "values", "expected"),
    [
        ("resident_id", [VALID_ID, "110105194912310021", None, "4.40106E+17"], [True, False, True, False]),
        ("uscc", [VALID_USCC, "91110000600037341M", np.nan], [True, False, True]),
        ("bank_card", ["6222021234567890128", "378282246310005", None], [True, False, True]),
        ("mobile", ["13800138000", "12800138000", None], [True, False, True]),
        ("landline", ["010-12345678", "(010)12345678", None], [True, False, True]),
        ("email", ["a@example.com", "a@b", None], [True, False, True]),
        ("gender", ["M", "F", "男", None], [True, True, False, True]),
        ("currency", ["CNY", "RMB", None], [True, False, True]),
    ],
)
def test_valid_mask_matches_scalar_rules(fmt: str, values: list, expected: list[bool]) -> None:
    series = pd.Series(values, index=[f"r{i}" for i in range(len(values))], dtype=object)
    mask = v.valid_mask(series, fmt)
    assert mask.dtype == bool
    assert mask.index.equals(series.index)
    assert mask.tolist() == expected


@pytest.mark.parametrize("dtype", [object, "str"])
def test_valid_mask_accepts_object_and_string_dtypes(dtype: object) -> None:
    series = pd.Series(["13800138000", None, "x"], dtype=dtype)
    assert v.valid_mask(series, "mobile").tolist() == [True, True, False]


def test_valid_mask_non_strings_are_invalid() -> None:
    series = pd.Series([13800138000, "13800138000", None], dtype=object)
    assert v.valid_mask(series, "mobile").tolist() == [False, True, True]


def test_valid_mask_unknown_format() -> None:
    with pytest.raises(KeyError):
        v.valid_mask(pd.Series(["x"]), "passport")


def test_valid_mask_large_series_with_repeats() -> None:
    distinct = [VALID_ID, "440301200002291237", "110105194912310021", "4.40106E+17", None]
    valid = {VALID_ID, "440301200002291237"}
    rng = np.random.default_rng(7)
    series = pd.Series(rng.choice(np.array(distinct, dtype=object), size=200_000))
    mask = v.valid_mask(series, "resident_id")
    assert len(mask) == 200_000
    expected_valid = int(series.isin(valid).sum() + series.isna().sum())
    assert int(mask.sum()) == expected_valid
    assert not mask[series.isin(["110105194912310021", "4.40106E+17"])].any()

    cards = pd.Series([f"6222{i:012d}" for i in range(5_000)] * 40)  # 200k rows, 5k distinct
    card_mask = v.valid_mask(cards, "bank_card")
    assert int(card_mask.sum()) == 40 * sum(v.is_bank_card(c) for c in cards.iloc[:5_000])


def test_vectorised_resident_id_rules_agree_with_the_scalar_ones():
    import random

    import pandas as pd
    from handover import validators as v

    rng = random.Random(11)
    values = []
    for _ in range(4000):
        body = rng.choice(["11", "31", "44", "99", "00", "81"]) + "".join(rng.choice("0123456789") for _ in range(4))
        body += f"{rng.randint(1880, 2030)}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        body += "".join(rng.choice("0123456789") for _ in range(3))
        check = v.resident_id_check_char(body) if rng.random() < 0.7 else rng.choice("0123456789X")
        values.append(rng.choice([body + check, (body + check).lower(), body, None, "4.40106E+17"]))
    series = pd.Series(values, dtype=object)
    assert list(v.resident_ids_ok(series)) == [v.is_resident_id(x) for x in values]
    assert list(v.resident_id_sexes(series)) == [v.resident_id_sex(x) for x in values]
    births = [d.isoformat() if (d := v.resident_id_birth_date(x)) else None for x in values]
    assert list(v.resident_id_births(series)) == births
    assert sum(v.is_resident_id(x) for x in values) > 300  # the comparison covers valid IDs too
