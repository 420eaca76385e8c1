"""Table-driven tests for handover.normalise on what real Chinese Excel/CSV exports contain."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

try:
    from handover import normalise as n
    from handover import validators as v
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "include"))
    from handover import normalise as n
    from handover import validators as v


def one(fn: Callable[[pd.Series], pd.Series], value: object) -> object:
    return fn(pd.Series([value], dtype=object)).iloc[0]


def parsed(fn: Callable[[pd.Series], tuple[pd.Series, pd.Series]], value: object) -> tuple[object, bool]:
    values, bad = fn(pd.Series([value], dtype=object))
    return values.iloc[0], bool(bad.iloc[0])


# --------------------------------------------------------------------------------------------------
# Common cleanup
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("１３８００１３８０００", "13800138000"),
        ("ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ABC@example.com"),
        ("（０１０）１２３４５６７８", "(010)12345678"),
        ("北京市　朝阳区", "北京市 朝阳区"),  # ideographic space; CJK untouched
        ("张三", "张三"),
        ("￥100", "￥100"),  # U+FFE5 is outside the full-width ASCII block
        (None, None),
    ],
)
def test_to_halfwidth(value: str | None, expected: str | None) -> None:
    assert one(n.to_halfwidth, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  张三  ", "张三"),
        ("\u3000张三\u3000", "张三"),
        ("\xa0138\xa0", "138"),
        ("\ufeff客户\u200b", "客户"),
        ("\t a b \n", "a b"),  # inner spaces kept
        ("", None),
        ("   ", None),
        ("\u3000\u200b", None),
        (None, None),
    ],
)
def test_strip_blank(value: str | None, expected: str | None) -> None:
    assert one(n.strip_blank, value) == expected


def test_series_shape_is_kept() -> None:
    series = pd.Series([" a ", None, np.nan, " a "], index=[10, 20, 30, 40], name="col")
    out = n.strip_blank(series)
    assert out.index.equals(series.index)
    assert out.name == "col"
    assert out.dtype == object
    assert out.tolist() == ["a", None, None, "a"]


@pytest.mark.parametrize("dtype", [object, "str"])
def test_string_dtypes_accepted(dtype: object) -> None:
    series = pd.Series(["１３８ ００１３ ８０００", None], dtype=dtype)
    assert n.mobile(series).tolist() == ["13800138000", None]


# --------------------------------------------------------------------------------------------------
# String formats
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("86-138-0013-8000", "13800138000"),
        ("(+86) 138.0013.8000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("8613800138", "8613800138"),  # not 11 digits after 86: left for the validator
        ("+86 10 12345678", "+861012345678"),  # a landline: cleaned, not invented
        ("1.38001E+10", "1.38001E+10"),  # scientific notation untouched
        ("", None),
        (None, None),
    ],
)
def test_mobile(value: str | None, expected: str | None) -> None:
    assert one(n.mobile, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("010-12345678", "010-12345678"),
        ("(010)12345678", "010-12345678"),
        ("（010）12345678", "010-12345678"),
        ("(0755) 1234567", "0755-1234567"),
        ("0755 1234567", "0755-1234567"),
        ("021-1234 5678", "021-12345678"),
        ("021-1234-5678", "021-12345678"),
        ("021-12345678-123", "021-12345678-123"),
        ("021-12345678转123", "021-12345678-123"),
        ("01012345678", "01012345678"),
        ("+86 10 12345678", "010-12345678"),
        ("+86-755-1234567", "0755-1234567"),
        ("0086 (10) 1234 5678", "010-12345678"),
        ("1234 5678", "12345678"),
        (None, None),
    ],
)
def test_landline(value: str | None, expected: str | None) -> None:
    out = one(n.landline, value)
    assert out == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11010519491231002x", "11010519491231002X"),
        ("11010519491231002X", "11010519491231002X"),
        ("110105 19491231 002x", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        (" 11010519491231002X\u200b", "11010519491231002X"),
        ("4.40106E+17", "4.40106E+17"),  # never repaired
        ("4.40106e+17", "4.40106e+17"),
        ("x1101", "x1101"),  # only a trailing x
        (None, None),
    ],
)
def test_resident_id(value: str | None, expected: str | None) -> None:
    assert one(n.resident_id, value) == expected


@pytest.mark.parametrize(
    ("fn", "value", "expected"),
    [
        (n.upper, "91110000600037341l", "91110000600037341L"),
        (n.upper, " cny ", "CNY"),
        (n.upper, "ｕｓｄ", "USD"),
        (n.email, "  Zhang.San@Example.COM ", "zhang.san@example.com"),
        (n.email, "ｚｓ＠ｑｑ．ｃｏｍ", "zs@qq.com"),
        (n.upper, None, None),
        (n.email, None, None),
    ],
)
def test_upper_and_email(
    fn: Callable[[pd.Series], pd.Series], value: str | None, expected: str | None
) -> None:
    assert one(fn, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("男", "M"),
        ("M", "M"),
        ("m", "M"),
        ("male", "M"),
        ("Male", "M"),
        ("1", "M"),
        ("女", "F"),
        ("F", "F"),
        ("f", "F"),
        ("female", "F"),
        ("FEMALE", "F"),
        ("2", "F"),
        (" 男 ", "M"),
        ("未知", "未知"),  # left for the validator to flag
        ("0", "0"),
        ("", None),
        (None, None),
    ],
)
def test_gender(value: str | None, expected: str | None) -> None:
    assert one(n.gender, value) == expected


# --------------------------------------------------------------------------------------------------
# Parsed types
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "bad"),
    [
        ("是", "true", False),
        ("否", "false", False),
        ("Y", "true", False),
        ("n", "false", False),
        ("YES", "true", False),
        ("No", "false", False),
        ("TRUE", "true", False),
        ("false", "false", False),
        ("1", "true", False),
        ("0", "false", False),
        ("同意", "true", False),
        ("不同意", "false", False),
        (" 是 ", "true", False),
        ("ｙｅｓ", "true", False),
        ("maybe", None, True),
        ("2", None, True),
        ("", None, False),
        (None, None, False),
    ],
)
def test_boolean(value: str | None, expected: str | None, bad: bool) -> None:
    assert parsed(n.boolean, value) == (expected, bad)


@pytest.mark.parametrize(
    ("value", "expected", "bad"),
    [
        ("2024-01-05", "2024-01-05", False),
        ("2024/1/5", "2024-01-05", False),
        ("2024.1.5", "2024-01-05", False),
        ("2024年1月5日", "2024-01-05", False),
        ("2024年01月05日", "2024-01-05", False),
        ("20240105", "2024-01-05", False),
        ("45296", None, True),  # a number: an Excel serial only where the contract says so (test_excel_serials)
        ("2015", None, True),  # a year, not a day (test_partial_dates)
        ("2024/1/5 13:45:00", "2024-01-05", False),
        ("2024-01-05T13:45:00", "2024-01-05", False),
        ("2024年1月5日 13:45", "2024-01-05", False),
        ("２０２４－０１－０５", "2024-01-05", False),
        ("2024-02-29", "2024-02-29", False),
        ("2024-02-30", None, True),  # not a calendar date
        ("2023-02-29", None, True),
        ("20241301", None, True),  # 8 digits are YYYYMMDD, never a serial
        ("2024-1/5", None, True),  # mixed separators
        ("5/1/2024", None, True),  # day/month order is ambiguous
        ("2024/1/5 25:00", None, True),  # bad time part
        ("0000-00-00", None, True),
        ("0", None, True),
        ("2958466", None, True),  # beyond 9999-12-31
        ("yesterday", None, True),
        ("", None, False),
        ("  ", None, False),
        (None, None, False),
    ],
)
def test_date(value: str | None, expected: str | None, bad: bool) -> None:
    assert parsed(n.date, value) == (expected, bad)


@pytest.mark.parametrize(
    ("value", "expected", "bad"),
    [
        ("2024-01-05 13:45:00", "2024-01-05T13:45:00", False),
        ("2024/1/5 13:45", "2024-01-05T13:45:00", False),
        ("2024年1月5日 13:45:30", "2024-01-05T13:45:30", False),
        ("2024年1月5日13时45分", "2024-01-05T13:45:00", False),
        ("20240105134500", "2024-01-05T13:45:00", False),
        ("2024-01-05T13:45:00", "2024-01-05T13:45:00", False),
        ("2024-01-05 13:45:00.789", "2024-01-05T13:45:00", False),
        ("2024-01-05T13:45:00+08:00", "2024-01-05T13:45:00", False),
        ("2024-01-05", "2024-01-05T00:00:00", False),
        ("20240105", "2024-01-05T00:00:00", False),
        ("45296.5", None, True),  # without excel_serial: not a moment
        ("2024-01-05T13:45:00Z", None, True),  # UTC is not the branch's local time
        ("2024-01-05T13:45:00-05:00", None, True),
        ("20240105256000", None, True),
        ("2024-01-05 13:60", None, True),
        ("2024-02-30 10:00", None, True),
        ("soon", None, True),
        (None, None, False),
    ],
)
def test_datetime(value: str | None, expected: str | None, bad: bool) -> None:
    assert parsed(n.datetime, value) == (expected, bad)


@pytest.mark.parametrize(
    ("value", "expected", "bad"),
    [
        ("¥1,234.50", "1234.50", False),
        ("￥1,234.5", "1234.50", False),
        ("1,234.50元", "1234.50", False),
        ("RMB 1234.5", "1234.50", False),
        ("CNY1234.50", "1234.50", False),
        (" 1234 ", "1234.00", False),
        ("(1,234.50)", "-1234.50", False),
        ("（1,234.50）", "-1234.50", False),
        ("-1,234.50", "-1234.50", False),
        ("-¥1,234.50", "-1234.50", False),
        ("¥-1,234.50", "-1234.50", False),
        ("１，２３４．５０", "1234.50", False),  # full-width digits and comma
        ("1234567.891", None, True),  # more decimals than the store keeps: a reason, never rounded unsaid
        ("0.125", None, True),
        ("2.670", "2.67", False),  # a trailing zero is no decimal
        ("-0.00", "0.00", False),  # no negative zero
        (".5", "0.50", False),
        ("0", "0.00", False),
        ("1.2E+5", None, True),  # scientific notation: digits may be lost
        ("1,5", None, True),  # decimal comma or bad grouping
        ("12,34.00", None, True),
        ("$100", None, True),  # another currency's marker
        ("USD 100", None, True),
        ("(-1)", None, True),
        ("1.2.3", None, True),
        ("NaN", None, True),
        ("Infinity", None, True),
        ("abc", None, True),
        ("¥", None, True),
        ("", None, False),
        (None, None, False),
    ],
)
def test_amount(value: str | None, expected: str | None, bad: bool) -> None:
    assert parsed(n.amount, value) == (expected, bad)


@pytest.mark.parametrize(
    ("value", "expected", "bad"),
    [
        ("1234", "1234", False),
        ("1,234,567", "1234567", False),
        ("-5", "-5", False),
        ("+7", "7", False),
        ("007", "7", False),
        ("12.0", "12", False),  # a spreadsheet's float spelling of an integer
        ("１２３", "123", False),
        ("-0", "0", False),
        ("12.5", None, True),
        ("1e3", None, True),
        ("1,23", None, True),
        ("abc", None, True),
        ("", None, False),
        (None, None, False),
    ],
)
def test_integer(value: str | None, expected: str | None, bad: bool) -> None:
    assert parsed(n.integer, value) == (expected, bad)


# --------------------------------------------------------------------------------------------------
# normalise_column
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "fmt", "value", "expected", "bad"),
    [
        ("string", None, "  ＡＢＣ　公司 ", "ABC 公司", False),
        ("string", "free_text", "  ＡＢＣ　公司 ", "ＡＢＣ　公司", False),  # only stripped
        ("string", "free_text", "\u3000", None, False),
        ("string", "mobile", "＋８６ １３８-００１３-８０００", "13800138000", False),
        ("string", "landline", "（010）12345678", "010-12345678", False),
        ("string", "resident_id", "11010519491231002x", "11010519491231002X", False),
        ("string", "resident_id", "4.40106E+17", "4.40106E+17", False),
        ("string", "uscc", "9111 0000 6000 3734 1l", "91110000600037341L", False),
        ("string", "email", " A@B.COM ", "a@b.com", False),
        ("string", "gender", "女", "F", False),
        ("string", "gender", "未知", "未知", False),  # strings are never "bad": the validators decide
        ("string", "currency", "cny", "CNY", False),
        ("string", "currency", "人民币", "CNY", False),
        ("string", "currency", "RMB", "CNY", False),
        ("string", "currency", "美元", "USD", False),
        ("string", "bank_card", "6222 0212-3456 7890 128", "6222021234567890128", False),
        ("string", "bank_card", "6.22202E+18", "6.22202E+18", False),
        ("integer", None, "1,234", "1234", False),
        ("integer", None, "abc", None, True),
        ("amount", None, "￥1,234.5", "1234.50", False),
        ("amount", None, "abc", None, True),
        ("date", None, "45296", None, True),
        ("date", None, "2024年1月5日", "2024-01-05", False),
        ("date", None, "2024-02-30", None, True),
        ("datetime", None, "2024/1/5 13:45", "2024-01-05T13:45:00", False),
        ("boolean", None, "是", "true", False),
        ("boolean", None, "？", None, True),
        ("date", None, "", None, False),
        ("amount", None, None, None, False),
    ],
)
def test_normalise_column(
    type_: str, fmt: str | None, value: str | None, expected: str | None, bad: bool
) -> None:
    values, bad_mask = n.normalise_column(pd.Series([value], dtype=object), type_, fmt)
    assert (values.iloc[0], bool(bad_mask.iloc[0])) == (expected, bad)
    assert bad_mask.dtype == bool


def test_normalise_column_output_validates() -> None:
    raw = pd.Series(["１３８００１３８０００", "+86 138-0013-8000", "138 0013 8000", None, "1.38001E+10"])
    values, bad = n.normalise_column(raw, "string", "mobile")
    assert not bad.any()
    assert v.valid_mask(values, "mobile").tolist() == [True, True, True, True, False]
    assert v.is_scientific_notation(values.iloc[4])


def test_normalise_column_non_string_cells_are_not_dropped() -> None:
    # A reader that let Excel numbers through: spelled as text, not silently lost.
    values, bad = n.normalise_column(pd.Series([45296, 1234.5, None], dtype=object), "amount", None)
    assert values.tolist() == ["45296.00", "1234.50", None]
    assert not bad.any()


@pytest.mark.parametrize(("type_", "fmt"), [("money", None), ("string", "passport")])
def test_normalise_column_unknown_type_or_format(type_: str, fmt: str | None) -> None:
    with pytest.raises(ValueError) as info:
        n.normalise_column(pd.Series(["13800138000"]), type_, fmt)
    assert "13800138000" not in str(info.value)


def test_normalise_column_large_series_with_repeats() -> None:
    forms = ["2024-01-05", "2024/1/5", "2024年1月5日", "20240105", "45296", "2024-02-30", None, ""]
    rng = np.random.default_rng(3)
    series = pd.Series(rng.choice(np.array(forms, dtype=object), size=200_000))
    values, bad = n.normalise_column(series, "date", None, serial=True)
    good_forms = {"2024-01-05", "2024/1/5", "2024年1月5日", "20240105", "45296"}
    assert int((values == "2024-01-05").sum()) == int(series.isin(good_forms).sum())
    assert int(bad.sum()) == int((series == "2024-02-30").sum())
    assert values[series.isna() | (series == "")].isna().all()


@pytest.mark.parametrize("kind", ["date", "datetime", "amount"])
def test_fast_paths_agree_with_the_scalar_parsers(kind):
    """Vectorised fast paths must give exactly what the per-value parsers give, valid or not."""
    import random

    from handover import normalise as n

    rng = random.Random(7)
    values = {
        "date": [f"{rng.randint(1890, 2030)}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}" for _ in range(3000)],
        "datetime": [f"{rng.randint(1890, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}"
                     f"{rng.choice([' ', 'T'])}{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}"
                     for _ in range(3000)],
        "amount": [rng.choice(["", "-"]) + rng.choice(["0", str(rng.randint(1, 10**9))])
                   + rng.choice(["", ".", "." + str(rng.randint(0, 9)), f".{rng.randint(0, 99):02d}"])
                   for _ in range(3000)],
    }[kind]
    scalar = {"date": n._parse_date, "datetime": n._parse_datetime, "amount": n._parse_amount}[kind]
    got, bad = getattr(n, kind)(pd.Series(values, dtype=object))
    assert list(got) == [scalar(v) for v in values]
    assert list(bad) == [scalar(v) is None for v in values]


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("45296", "date", "2024-01-05"),
        ("45296.75", "date", "2024-01-05"),
        ("45296.5", "datetime", "2024-01-05T12:00:00"),
        ("20240105", "date", "2024-01-05"),  # 8 digits stay YYYYMMDD
        ("2015", "date", "1905-07-07"),  # what a serial 2015 is: the contract asked for serials
    ],
)
def test_excel_serials_are_read_only_where_the_contract_says_so(value, type_, expected) -> None:
    values, bad = n.normalise_column(pd.Series([value], dtype=object), type_, None, serial=True)
    assert values.tolist() == [expected] and not bad.any()
    values, bad = n.normalise_column(pd.Series([value], dtype=object), type_, None)
    assert (values.tolist() == [expected]) == (value == "20240105")
    if value != "20240105":
        assert n.bad_reason(value, type_) == ("partial_date" if value == "2015" else "date_as_number")


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2015", "2015-01-01", "2015-12-31"),
        ("2015年", "2015-01-01", "2015-12-31"),
        ("2015年6月", "2015-06-01", "2015-06-30"),
        ("2016年2月", "2016-02-01", "2016-02-29"),
        ("2015-06", "2015-06-01", "2015-06-30"),
        ("2015/6", "2015-06-01", "2015-06-30"),
        ("201512", "2015-12-01", "2015-12-31"),
        ("２０１５年６月", "2015-06-01", "2015-06-30"),
    ],
)
def test_partial_dates_follow_the_declared_fill_or_are_a_reason(value, start, end) -> None:
    for fill, expected in (("start", start), ("end", end)):
        values, bad = n.normalise_column(pd.Series([value], dtype=object), "date", None, partial=fill)
        assert values.tolist() == [expected] and not bad.any()
    values, bad = n.normalise_column(pd.Series([value], dtype=object), "date", None)
    assert values.tolist() == [None] and bad.all()
    assert n.bad_reason(value, "date") == "partial_date"


def test_full_dates_are_never_taken_for_partial_ones() -> None:
    values, _ = n.normalise_column(pd.Series(["20150630", "2015-06-30", "2015年6月30日"], dtype=object), "date",
                                   None, partial="start")
    assert values.tolist() == ["2015-06-30"] * 3


def test_amounts_with_more_decimals_are_a_reason_not_rounded() -> None:
    values, bad = n.normalise_column(pd.Series(["12.345", "12.340", "abc"], dtype=object), "amount")
    assert values.tolist() == [None, "12.34", None] and bad.tolist() == [True, False, True]
    assert [n.bad_reason(v, "amount") for v in ("12.345", "abc")] == ["amount_precision", "unparseable_amount"]
    assert n.decimals("12.50") == 1 and n.decimals("12.00") == 0


def test_no_expiry_is_the_greatest_date_only_for_expiry_dates() -> None:
    series = pd.Series(["长期", "长期有效", "2030-01-01", "永久"], dtype=object)
    values, bad = n.normalise_column(series, "date", "expiry")
    assert values.tolist() == ["9999-12-31", "9999-12-31", "2030-01-01", "9999-12-31"] and not bad.any()
    assert n.normalise_column(series, "date")[1].tolist() == [True, True, False, True]


def test_countries_become_alpha3() -> None:
    series = pd.Series(["中国", "CN", "chn", "156", "美国", "中国香港", "台湾", "Germany", "火星"], dtype=object)
    values, _ = n.normalise_column(series, "string", "country")
    assert values.tolist() == ["CHN", "CHN", "CHN", "CHN", "USA", "HKG", "TWN", "DEU", "火星"]
