"""Normalise the values real Chinese Excel/CSV exports contain, before validation.

Branch exports arrive with full-width digits and letters (``１３８００１３８０００``), ideographic and
non-breaking spaces, zero-width characters, phone numbers with ``+86`` and dashes, dates in half a dozen
spellings (``2024/1/5``, ``2024年1月5日``, Excel serial numbers …), amounts like ``￥1,234.50元`` and
booleans such as ``是``/``否``. This module turns them into one canonical spelling per value type:

==========  ======================================  ===========================================
type        normalised form                         example
==========  ======================================  ===========================================
string      cleaned text (per ``format``)           ``13800138000``, ``010-12345678``
integer     decimal integer                         ``-1234``
amount      decimal with exactly two decimals       ``1234.50``
date        ISO date                                ``2024-01-05``
datetime    ISO local date-time, no time zone       ``2024-01-05T13:45:00``
boolean     ``true`` / ``false``                    ``true``
==========  ======================================  ===========================================

Normalising never decides validity of a string format (a mobile number that is still not a mobile number
after cleaning is returned as is, for :mod:`handover.validators` to flag). For the parsed types
(integer, amount, date, datetime, boolean) the functions return ``(values, bad)``: ``bad`` is True where a
non-empty input could not be parsed, and the value there is None.

Scientific notation (``4.40106E+17``, Excel's damage to long IDs) is never "repaired": the format
normalisers leave such values untouched so the validators can flag them, and :func:`amount` and
:func:`integer` reject them (the significant digits Excel dropped cannot be recovered).

All functions take a pandas Series of ``str`` with None/NaN for empty, and return Series with the same
index, ``object`` dtype and None for empty. Work is done once per distinct value (``pandas.factorize``),
so a million-row column with repeats costs about as much as its distinct values. Columns of distinct
values (IDs, timestamps, amounts) are made cheap by fast paths: one vectorised Arrow regex pass (RE2) finds
the values a step would leave as they are, or that are already in the canonical spelling, and only the
others go through the general Python code, so the results are those of the general code. Nothing here
logs, and no exception message contains a customer value.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from handover import phones

__all__ = [
    "EXCEL_EPOCH",
    "EXCEL_SERIAL_MAX",
    "FREE_TEXT",
    "amount",
    "boolean",
    "date",
    "datetime",
    "email",
    "gender",
    "integer",
    "landline",
    "mobile",
    "normalise_column",
    "resident_id",
    "strip_blank",
    "to_halfwidth",
    "upper",
]

# Per-distinct-value step: takes the distinct non-missing values (object Series, all ``str``, index
# 0..n-1), returns the normalised values (None for empty) and a bad mask aligned with them.
_Step = Callable[[pd.Series], tuple[pd.Series, np.ndarray]]


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 where missing) and the distinct values. A column read from the work area is Arrow-backed text:
    Arrow encodes it without first making a Python string of every row."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        encoded = pa.chunked_array(pa.array(s.array)).combine_chunks().dictionary_encode()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        return codes.astype(np.intp), encoded.dictionary.to_numpy(zero_copy_only=False)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _run(s: pd.Series, step: _Step) -> tuple[pd.Series, pd.Series]:
    """Apply ``step`` once per distinct non-missing value of ``s`` and broadcast the result back."""
    codes, uniques = _factorize(s)
    distinct = pd.Series(uniques, dtype=object)
    if len(distinct) and pd.api.types.infer_dtype(distinct, skipna=False) != "string":
        # A reader that did not keep every cell as text (ints, floats, dates …): never drop such values
        # silently, spell them as text and let the type parsers deal with them.
        distinct = distinct.map(lambda v: v if isinstance(v, str) else str(v))
    values, bad = step(distinct)
    vals = values.to_numpy(dtype=object, na_value=None)
    out = np.full(len(codes), None, dtype=object)
    bad_out = np.zeros(len(codes), dtype=bool)
    present = codes >= 0
    out[present] = vals[codes[present]]
    bad_out[present] = np.asarray(bad, dtype=bool)[codes[present]]
    return (
        pd.Series(out, index=s.index, name=s.name, dtype=object),
        pd.Series(bad_out, index=s.index, name=s.name, dtype=bool),
    )


def _values_only(step: Callable[[pd.Series], pd.Series]) -> _Step:
    return lambda u: (step(u), np.zeros(len(u), dtype=bool))


def _per_value(parse: Callable[[str], str | None]) -> _Step:
    """A step from a scalar parser returning the normalised value, or None when it cannot parse."""

    def step(u: pd.Series) -> tuple[pd.Series, np.ndarray]:
        parsed = [None if v is None else parse(v) for v in u]
        values = pd.Series(parsed, index=u.index, dtype=object)
        bad = values.isna().to_numpy() & u.notna().to_numpy()
        return values, bad

    return step


def _chain(*steps: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    def chained(u: pd.Series) -> pd.Series:
        for step in steps:
            u = step(u)
        return u

    return chained


def _arrow(u: pd.Series) -> pa.Array | None:
    """The values (str or None) as an Arrow string array; None when Arrow cannot hold them (lone surrogates,
    non-text), and the caller takes its general path."""
    try:
        return pa.array(u.to_numpy(dtype=object), pa.string(), from_pandas=True)
    except (UnicodeError, pa.ArrowException):
        return None


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    """Where the values match the RE2 ``pattern`` (which anchors itself); never where a value is null."""
    return pc.fill_null(pc.match_substring_regex(values, pattern), False).to_numpy(zero_copy_only=False)


def _unless(unchanged: str, step: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """``step``, run only on the values that do not match ``unchanged``: an RE2 pattern of values ``step``
    is known to leave exactly as they are (the pattern is a fast path, never a rule of its own)."""

    def fast(u: pd.Series) -> pd.Series:
        values = _arrow(u)
        if values is None:
            return step(u)
        keep = _matches(values, unchanged)
        if keep.all():
            return u
        out = u.copy()
        out[~keep] = step(u[~keep]).to_numpy(dtype=object)
        return out

    return fast


# --------------------------------------------------------------------------------------------------
# Common cleanup
# --------------------------------------------------------------------------------------------------

# U+FF01..U+FF5E (full-width ASCII) -> U+0021..U+007E; U+3000 ideographic space -> space.
# Full-width ASCII and the ideographic space → ASCII, one character for one (offsets keep): str.translate table.
HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Characters that are invisible in a spreadsheet: zero-width space/joiners, word joiner, BOM.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_BLANK = rf"[\s{_INVISIBLE}]"  # \s covers U+3000, NBSP and the other Unicode spaces
_EDGE_BLANK_RE = re.compile(rf"^{_BLANK}+|{_BLANK}+$")
_ANY_BLANK_RE = re.compile(rf"{_BLANK}+")

# The same classes for the RE2 fast paths, whose \s is ASCII only: every character Python's \s matches
# (str.isspace(); a unit test checks this list against all of Unicode), the invisible ones, full-width.
_PY_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _re2_chars(chars: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in chars)


_RE2_BLANK = _re2_chars(_PY_SPACES + _INVISIBLE)
_RE2_WIDE = _re2_chars("".join(map(chr, HALFWIDTH)))
# Not empty, no blank at either end: what stripping leaves as it is; also no full-width character: what
# the common cleanup (half-width, strip) leaves as it is.
_STRIPPED = rf"^[^{_RE2_BLANK}](?s:.*[^{_RE2_BLANK}])?$"
_COMMON_CLEAN = rf"^[^{_RE2_BLANK}{_RE2_WIDE}](?:[^{_RE2_WIDE}]*[^{_RE2_BLANK}{_RE2_WIDE}])?$"


def _u_halfwidth(u: pd.Series) -> pd.Series:
    return u.str.translate(HALFWIDTH)


def _strip(u: pd.Series) -> pd.Series:
    stripped = u.str.replace(_EDGE_BLANK_RE, "", regex=True)
    return stripped.where(stripped.str.len() > 0, None)


_u_strip = _unless(_STRIPPED, _strip)
_u_common = _unless(_COMMON_CLEAN, _chain(_u_halfwidth, _strip))


def to_halfwidth(s: pd.Series) -> pd.Series:
    """Full-width ASCII (U+FF01–U+FF5E) to ASCII and the ideographic space to a space; CJK untouched."""
    return _run(s, _values_only(_u_halfwidth))[0]


def strip_blank(s: pd.Series) -> pd.Series:
    """Strip surrounding whitespace (incl. U+3000, NBSP) and zero-width characters; blank -> None."""
    return _run(s, _values_only(_u_strip))[0]


# --------------------------------------------------------------------------------------------------
# String formats (cleaning only; validity is for the validators)
# --------------------------------------------------------------------------------------------------

_SCIENTIFIC_RE = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+$"


def _keep_scientific(clean: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Apply ``clean`` except to values in scientific notation, which stay as they are (to be flagged)."""

    def step(u: pd.Series) -> pd.Series:
        sci = u.str.match(_SCIENTIFIC_RE).fillna(False).astype(bool)
        return clean(u).where(~sci, u)

    return step


def _remove(pattern: str) -> Callable[[pd.Series], pd.Series]:
    return lambda u: u.str.replace(pattern, "", regex=True)


_MOBILE_SEPARATORS = rf"[\s{_INVISIBLE}\-.()（）]+"
_MOBILE_COUNTRY_RE = rf"^{phones.COUNTRY_PREFIX}({phones.MOBILE})$"


def _u_mobile(u: pd.Series) -> pd.Series:
    cleaned = u.str.replace(_MOBILE_SEPARATORS, "", regex=True)
    return cleaned.str.replace(_MOBILE_COUNTRY_RE, r"\1", regex=True)


# Up to 12 digits: nothing to remove, too short for a country code.
_u_mobile_safe = _unless(r"^[0-9]{1,12}$", _keep_scientific(_u_mobile))

# +86 / 0086, optional separators, area code without (or with) its 0, a separator, the local number,
# optional extension: "+86 10 12345678" -> "010-12345678". Separators are needed: "+861012345678" is
# ambiguous (2- or 3-digit area code) and is left for the validators.
_LANDLINE_COUNTRY_RE = re.compile(
    r"^(?:\+|00)86[\s\-]*\(?0?([1-9][0-9]{1,2})\)?[\s\-]+([1-9][0-9]{2,3}[\s\-]?[0-9]{3,4})"
    r"(?:[\s\-]+([0-9]{1,6}))?$"
)
# Area code set off by parentheses or a separator: "(010)12345678", "0755 123 4567", "021-1234 5678".
_LANDLINE_AREA_RE = re.compile(r"^\((0[1-9][0-9]{1,2})\)[\s\-]*(.+)$|^(0[1-9][0-9]{1,2})[\s\-]+(.+)$")
_EXTENSION_RE = re.compile(r"(?:转|分机|ext\.?)", re.IGNORECASE)
_LANDLINE_REMOVE_RE = re.compile(rf"[\s{_INVISIBLE}()]+")


def _landline_one(v: str) -> str:
    m = _LANDLINE_COUNTRY_RE.match(v)
    if m:
        area, local, ext = m.groups()
        local = _LANDLINE_REMOVE_RE.sub("", local).replace("-", "")
        return f"0{area}-{local}" + (f"-{ext}" if ext else "")
    v = _EXTENSION_RE.sub("-", v)
    m = _LANDLINE_AREA_RE.match(v)
    if m:
        area = m.group(1) or m.group(3)
        rest = _LANDLINE_REMOVE_RE.sub("", m.group(2) or m.group(4))
        # "021-1234-5678" style grouping inside the local number: join the groups, keep an extension.
        parts = [p for p in rest.split("-") if p]
        if len(parts) >= 2 and len(parts[0]) + len(parts[1]) in (7, 8) and len(parts[0]) in (3, 4):
            parts = [parts[0] + parts[1], *parts[2:]]
        return "-".join([area, *parts]) if parts else area
    return _LANDLINE_REMOVE_RE.sub("", v)


def _u_landline(u: pd.Series) -> pd.Series:
    return u.map(_landline_one, na_action="ignore")


# Digits, or an area code, one dash and digits: already in the canonical spelling.
_u_landline_safe = _unless(r"^(?:0[1-9][0-9]{1,2}-)?[0-9]+$", _keep_scientific(_u_landline))


def _u_resident_id(u: pd.Series) -> pd.Series:
    cleaned = u.str.replace(_ANY_BLANK_RE, "", regex=True)
    return cleaned.str.replace(r"x$", "X", regex=True)


_u_resident_id_safe = _unless(r"^[0-9]+X?$", _keep_scientific(_u_resident_id))
_u_bank_card_safe = _unless(r"^[0-9]+$", _keep_scientific(_remove(rf"[\s{_INVISIBLE}\-]+")))


def _u_upper(u: pd.Series) -> pd.Series:
    return u.str.upper()


def _u_uscc(u: pd.Series) -> pd.Series:
    return u.str.replace(_ANY_BLANK_RE, "", regex=True).str.upper()


# Names exports use instead of ISO 4217 codes. "RMB" is the common but non-ISO spelling of CNY.
_CURRENCY_NAMES = {
    "RMB": "CNY",
    "人民币": "CNY",
    "人民币元": "CNY",
    "元": "CNY",
    "美元": "USD",
    "美金": "USD",
    "港币": "HKD",
    "港元": "HKD",
    "欧元": "EUR",
    "日元": "JPY",
    "英镑": "GBP",
    "澳门元": "MOP",
    "澳门币": "MOP",
    "澳门幣": "MOP",
    "新台币": "TWD",
    "新台幣": "TWD",
}


def _u_currency(u: pd.Series) -> pd.Series:
    upper = u.str.upper()
    return upper.map(lambda v: _CURRENCY_NAMES.get(v, v), na_action="ignore")


def _u_email(u: pd.Series) -> pd.Series:
    return u.str.replace(_EDGE_BLANK_RE, "", regex=True).str.lower()


_u_email_fast = _unless(r"^[a-z0-9._%+@-]+$", _u_email)  # ASCII, no capital, no blank: as it is


_GENDER_CODES = {
    "男": "M",
    "男性": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "女": "F",
    "女性": "F",
    "f": "F",
    "female": "F",
    "2": "F",
}


def _u_gender(u: pd.Series) -> pd.Series:
    return u.map(lambda v: _GENDER_CODES.get(v.lower(), v), na_action="ignore")


def _public(step: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Public single-format normaliser: common cleanup (half-width, strip), then ``step``."""
    chained = _chain(_u_common, step)

    def normaliser(s: pd.Series) -> pd.Series:
        return _run(s, _values_only(chained))[0]

    return normaliser


def mobile(s: pd.Series) -> pd.Series:
    """Remove spaces, dashes, dots and parentheses; drop a leading ``+86``/``0086``/``86`` when what
    remains is 11 digits starting with 1. ``+86 138-0013-8000`` -> ``13800138000``."""
    return _public(_u_mobile_safe)(s)


def landline(s: pd.Series) -> pd.Series:
    """Remove spaces and parentheses, keep dashes; set the area code off with a dash:
    ``(010)12345678`` -> ``010-12345678``, ``+86 10 12345678`` -> ``010-12345678``,
    ``021-12345678转123`` -> ``021-12345678-123``."""
    return _public(_u_landline_safe)(s)


def resident_id(s: pd.Series) -> pd.Series:
    """Remove spaces and upper-case a trailing ``x``; scientific notation is left untouched."""
    return _public(_u_resident_id_safe)(s)


def upper(s: pd.Series) -> pd.Series:
    """Upper-case (USCC, currency codes)."""
    return _public(_u_upper)(s)


def email(s: pd.Series) -> pd.Series:
    """Strip and lower-case."""
    return _public(_u_email_fast)(s)


def gender(s: pd.Series) -> pd.Series:
    """男/M/male/1 -> ``M``; 女/F/female/2 -> ``F`` (case-insensitive); anything else is left as is."""
    return _public(_u_gender)(s)


# --------------------------------------------------------------------------------------------------
# Parsed types: boolean, date, datetime, amount, integer
# --------------------------------------------------------------------------------------------------

_BOOLEANS = {
    **dict.fromkeys(("是", "y", "yes", "true", "1", "1.0", "同意"), "true"),
    **dict.fromkeys(("否", "n", "no", "false", "0", "0.0", "不同意"), "false"),
}


def _parse_boolean(v: str) -> str | None:
    return _BOOLEANS.get(v.lower())


EXCEL_EPOCH = _dt.date(1899, 12, 30)  # 1900 date system: serial 1 = 1899-12-31 (Excel says 1900-01-01)
EXCEL_SERIAL_MAX = 2958465  # 9999-12-31

_DATE_PATTERNS = (
    re.compile(r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*[日号]?"),
    re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
)
_TIME_PATTERNS = (
    re.compile(r"(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.[0-9]+)?)?"),
    re.compile(r"(?P<H>[0-9]{2})(?P<M>[0-9]{2})(?P<S>[0-9]{2})"),  # 134500, a time column of its own
    re.compile(r"(?P<H>[0-9]{1,2})\s*[时時点點]\s*(?:(?P<M>[0-9]{1,2})\s*分\s*(?:(?P<S>[0-9]{1,2})\s*秒)?)?"),
)
_COMPACT_DATETIME_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})")
_EXCEL_SERIAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# China (and Hong Kong, Macao, Taiwan) local time is UTC+8: an explicit +08:00 on the time is redundant
# and dropped; any other offset (or Z) cannot be represented as local time and is rejected.
_TIME_ZONE_RE = re.compile(r"^(.*?)\s*(Z|[+-][0-9]{2}(?::?[0-9]{2})?)$", re.IGNORECASE)
_LOCAL_OFFSETS = frozenset({"+08", "+0800", "+08:00"})
# "2024年1月5日13:45" (the time may follow 日 directly) or "<date>[ T]<time>".
_SPLIT_CJK_RE = re.compile(r"^(.*?[日号])\s*(.*)$")
_SPLIT_RE = re.compile(r"^([^\sT]+)(?:[\sT]+(.*))?$")


def _match_date(text: str) -> _dt.date | None:
    for pattern in _DATE_PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            try:
                return _dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
            except ValueError:
                return None
    return None


def _match_time(text: str) -> _dt.time | None:
    for pattern in _TIME_PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            try:
                return _dt.time(int(m["H"]), int(m["M"] or 0), int(m["S"] or 0))
            except ValueError:
                return None
    return None


def _excel_serial(text: str) -> _dt.datetime | None:
    """An Excel 1900-system serial (``45296`` or ``45296.5``) as a datetime, None if out of range."""
    if not _EXCEL_SERIAL_RE.fullmatch(text):
        return None
    whole, _, frac = text.partition(".")
    if len(whole) == 8 and not frac:
        return None  # 8 digits are YYYYMMDD, handled by the date patterns
    days = int(whole)
    if not 1 <= days <= EXCEL_SERIAL_MAX or (days == EXCEL_SERIAL_MAX and frac.strip("0")):
        return None
    seconds = round(Decimal("0." + frac) * 86400) if frac else 0
    try:
        return _dt.datetime.combine(EXCEL_EPOCH, _dt.time()) + _dt.timedelta(days=days, seconds=seconds)
    except OverflowError:
        return None


# Partial dates: a year, or a year and a month, in the spellings exports use. Read only where the contract
# says how (``partial_dates: start | end``); elsewhere they are a reason of their own.
_PARTIAL_RE = re.compile(r"(?P<y>(?:19|20)[0-9]{2})\s*(?:年)?(?:\s*[-/.]?\s*(?P<m>[0-9]{1,2})\s*(?:月(?:份)?)?)?")
_PARTIAL_COMPACT_RE = re.compile(r"(?P<y>(?:19|20)[0-9]{2})(?P<m>0[1-9]|1[0-2])")


def _partial_date(text: str, fill: str) -> _dt.date | None:
    """``2015`` / ``2015年`` / ``2015年6月`` / ``2015-06`` / ``201506`` as the first (``start``) or last
    (``end``) day of that year or month; None when the text is not such a period."""
    m = _PARTIAL_COMPACT_RE.fullmatch(text) or _PARTIAL_RE.fullmatch(text)
    if not m:
        return None
    year, month = int(m["y"]), m["m"]
    if month is None:
        return _dt.date(year, 1, 1) if fill == "start" else _dt.date(year, 12, 31)
    month = int(month)
    if not 1 <= month <= 12:
        return None
    if fill == "start":
        return _dt.date(year, month, 1)
    following = _dt.date(year + month // 12, month % 12 + 1, 1)
    return following - _dt.timedelta(days=1)


def is_partial_date(text: str) -> bool:
    return _partial_date(text.strip(), "start") is not None


def _parse_datetime_value(v: str, serial: bool = False, partial: str | None = None) -> _dt.datetime | None:
    text = v.strip()
    if not text:
        return None
    if partial and not (len(text) == 8 and text.isdigit()):
        day = _partial_date(text, partial)
        if day is not None:
            return _dt.datetime.combine(day, _dt.time())
    if len(text) == 8 and text.isdigit():
        day = _match_date(text)
        return None if day is None else _dt.datetime.combine(day, _dt.time())
    # A number is an Excel serial day only where the contract says the column holds them (an XLSX cell
    # formatted as a date arrives as a date already): "2015" or "45296" in a text file is not a date.
    found = _excel_serial(text) if serial else None
    if found is not None:
        return found
    m = _COMPACT_DATETIME_RE.fullmatch(text)
    if m:
        try:
            return _dt.datetime(*(int(g) for g in m.groups()))
        except ValueError:
            return None
    m = _SPLIT_CJK_RE.match(text) or _SPLIT_RE.match(text)
    if not m:
        return None
    day = _match_date(m.group(1).strip())
    if day is None:
        return None
    time_part = (m.group(2) or "").strip()
    if not time_part:
        return _dt.datetime.combine(day, _dt.time())
    zone = _TIME_ZONE_RE.match(time_part)
    if zone:
        if zone.group(2) not in _LOCAL_OFFSETS:
            return None
        time_part = zone.group(1)
    clock = _match_time(time_part)
    return None if clock is None else _dt.datetime.combine(day, clock)


def _parse_date(v: str, serial: bool = False, partial: str | None = None) -> str | None:
    parsed = _parse_datetime_value(v, serial, partial)
    return None if parsed is None else parsed.date().isoformat()


def _parse_datetime(v: str, serial: bool = False, partial: str | None = None) -> str | None:
    parsed = _parse_datetime_value(v, serial, None)
    return None if parsed is None else parsed.isoformat(timespec="seconds")


# 证件有效期 of a document that never expires (居民身份证 of people over 46 …): the greatest date.
NO_EXPIRY = frozenset({"长期", "长期有效", "永久", "永久有效", "终身", "终身有效", "long-term", "permanent"})
NO_EXPIRY_DATE = "9999-12-31"


_CENT = Decimal("0.01")
# Markers of the yuan only: an amount marked with another currency is rejected rather than stripped, so
# that it cannot silently be read as yuan.
_YUAN_PREFIX_RE = re.compile(r"^(?:RMB|CNY|人民币|[¥￥])\s*", re.IGNORECASE)
_YUAN_SUFFIX_RE = re.compile(r"\s*(?:元|RMB|CNY)$", re.IGNORECASE)
_AMOUNT_RE = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+")
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-"})


def _parse_decimal(v: str) -> Decimal | None:
    text = v.translate(_MINUS_SIGNS).strip()
    negative = False
    if text.startswith("(") and text.endswith(")"):  # accounting negative: (1,234.50)
        negative, text = True, text[1:-1].strip()
    sign = ""
    if text[:1] in ("+", "-"):  # -¥1,234.50
        sign, text = text[0], text[1:].lstrip()
    text = _YUAN_SUFFIX_RE.sub("", _YUAN_PREFIX_RE.sub("", text, count=1), count=1)
    if not sign and text[:1] in ("+", "-"):  # ¥-1,234.50
        sign, text = text[0], text[1:].lstrip()
    if (negative and sign) or not _AMOUNT_RE.fullmatch(text):
        return None
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        return None
    return -number if negative or sign == "-" else number


def _parse_amount(v: str) -> str | None:
    number = _parse_decimal(v)
    if number is None:
        return None
    rounded = number.quantize(_CENT, rounding=ROUND_HALF_UP)
    if rounded != number:
        return None  # more decimals than the store keeps: a reason (amount_precision), never rounded unsaid
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:.2f}"


def decimals(value: str) -> int:
    """The significant decimals of a normalised amount (``12.50`` → 1, ``12.00`` → 0)."""
    _, _, fraction = value.partition(".")
    return len(fraction.rstrip("0"))


_INTEGER_RE = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.0+)?")


def _parse_integer(v: str) -> str | None:
    text = v.translate(_MINUS_SIGNS).strip()
    if not _INTEGER_RE.fullmatch(text):
        return None
    return str(int(text.partition(".")[0].replace(",", "")))


# Fast paths: values already in the canonical spelling (one RE2 pass over the column) are converted by
# vectorised code; whatever that does not convert (and every other spelling) goes through the scalar
# parser, so results never differ.
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _real_dates(iso: pa.Array) -> np.ndarray:
    """Whether values starting with ``YYYY-MM-DD`` (ASCII digits, checked by the caller) name a real day
    of years 1-9999, as ``datetime.date`` would accept it."""
    text = np.asarray(iso.to_numpy(zero_copy_only=False), dtype="U10")  # the first 10 characters
    digits = text.view(np.uint32).reshape(-1, 10).astype(np.int64) - ord("0")
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 5] * 10 + digits[:, 6]
    day = digits[:, 8] * 10 + digits[:, 9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    valid_month = (month >= 1) & (month <= 12)
    last = _DAYS_IN_MONTH[np.where(valid_month, month, 0)] + (leap & (month == 2))
    return (year >= 1) & valid_month & (day >= 1) & (day <= last)


def _only_real(values: pa.Array, iso: pa.Array) -> np.ndarray:
    """``values`` as Python strings, None where ``iso`` is not a real date (left to the scalar parser)."""
    out = values.to_numpy(zero_copy_only=False)
    out[~_real_dates(iso)] = None
    return out


def _fast_date(iso: pa.Array) -> np.ndarray:
    return _only_real(iso, iso)


def _fast_datetime(stamps: pa.Array) -> np.ndarray:
    return _only_real(pc.utf8_replace_slice(stamps, 10, 11, "T"), stamps)  # "2024-01-05 13:45:00": T


def _fast_amount(amounts: pa.Array) -> np.ndarray:
    """Pad to exactly two decimals: ``12`` -> ``12.00``, ``12.5`` -> ``12.50``."""
    dot = pc.find_substring(amounts, ".")
    decimals = pc.subtract(pc.subtract(pc.utf8_length(amounts), dot), 1)
    pad = pc.if_else(pc.less(dot, 0), ".00", pc.if_else(pc.equal(decimals, 1), "0", ""))
    return pc.binary_join_element_wise(amounts, pad, "").to_numpy(zero_copy_only=False)


def _fast_integer(integers: pa.Array) -> np.ndarray:
    return integers.to_numpy(zero_copy_only=False)


_FAST: dict[str, tuple[str, Callable[[pa.Array], np.ndarray]]] = {
    "date": (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", _fast_date),
    # the clock spelled strictly: a leap second (:60) and the like are for the scalar parser
    "datetime": (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$", _fast_datetime),
    # non-negative, or negative and not zero (the scalar path turns -0 into 0.00)
    "amount": (r"^(?:(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?|-[1-9][0-9]{0,14}(?:\.[0-9]{1,2})?)$", _fast_amount),
    # no sign but a minus, no leading zero, no separator, not huge: already as int() would spell it
    "integer": (r"^(?:0|-?[1-9][0-9]{0,17})$", _fast_integer),
}


def _parsed(parse: Callable[[str], str | None], fast: str | None = None
            ) -> Callable[[pd.Series], tuple[pd.Series, pd.Series]]:
    slow = _per_value(parse)

    def step(u: pd.Series) -> tuple[pd.Series, np.ndarray]:
        u = _u_common(u)
        arrow = None if fast is None or not len(u) else _arrow(u)
        if arrow is None:
            return slow(u)
        pattern, convert = _FAST[fast]
        hit = _matches(arrow, pattern)
        if not hit.any():
            return slow(u)
        values = np.full(len(u), None, dtype=object)
        values[hit] = convert(arrow.filter(pa.array(hit)))
        rest = pd.isna(values)
        bad = np.zeros(len(u), dtype=bool)
        if rest.any():
            slow_values, slow_bad = slow(u[rest].reset_index(drop=True))
            values[rest] = slow_values.to_numpy(dtype=object)
            bad[rest] = slow_bad
        return pd.Series(values, index=u.index, dtype=object), bad

    def parser(s: pd.Series) -> tuple[pd.Series, pd.Series]:
        return _run(s, step)

    return parser


def boolean(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``("true"|"false"|None, bad)`` from 是/否, Y/N, yes/no, true/false, 1/0, 同意/不同意 (any case)."""
    return _parsed(_parse_boolean)(s)


def date(s: pd.Series, *, serial: bool = False, partial: str | None = None) -> tuple[pd.Series, pd.Series]:
    """``(YYYY-MM-DD | None, bad)``.

    Accepts ``2024-01-05``, ``2024/1/5``, ``2024.1.5``, ``2024年1月5日``, ``20240105`` and any of these
    followed by a time (``2024/1/5 13:45:00``), whose time part is dropped but must be valid. Day-first/
    month-first forms (``5/1/2024``) are ambiguous and rejected, as are impossible dates. With ``serial``
    (the contract's ``excel_serial``), numbers are Excel serials (``45296``, ``45296.75``: 1899-12-30 + n,
    1 <= n <= 2958465; 8-digit numbers stay YYYYMMDD); without it a number is bad (`bad_reason`:
    ``date_as_number``). With ``partial`` (``start`` | ``end``), a year or a month (``2015``, ``2015年6月``,
    ``2015-06``, ``201506``) is read as its first or last day; without it such a value is bad
    (``partial_date``).
    """
    return _parsed(functools.partial(_parse_date, serial=serial, partial=partial), fast="date")(s)


def datetime(s: pd.Series, *, serial: bool = False, partial: str | None = None) -> tuple[pd.Series, pd.Series]:
    """``(YYYY-MM-DDTHH:MM:SS | None, bad)`` in the branch's local time, no time zone.

    Accepts the :func:`date` forms, with an optional time ``13:45``, ``13:45:30(.123)`` or ``13时45分30秒``
    (fractions of a second are dropped), ``20240105134500``, and — with ``serial`` — Excel serials with a
    fraction of a day (``45296.5`` -> ``2024-01-05T12:00:00``, rounded to the second). A date alone gives
    ``T00:00:00``. An explicit ``+08:00`` is dropped; any other time-zone suffix is rejected. (A moment is
    never partial: ``partial`` is ignored.)
    """
    return _parsed(functools.partial(_parse_datetime, serial=serial), fast="datetime")(s)


def amount(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(decimal string with two decimals | None, bad)``.

    Accepts ``¥1,234.50``, ``￥1,234.5``, ``1,234.50元``, ``RMB 1234.5``, ``CNY1234.50``, ``1234``,
    ``-1,234.50`` and ``(1,234.50)`` (negative). Thousands separators must group by three (``1,5`` is
    rejected: it may be a decimal comma). More significant decimals than two (``12.345``; ``12.340`` is
    fine) are bad, never rounded without a word (`bad_reason`: ``amount_precision``). Scientific notation
    (``1.2E+5``) is rejected: Excel writes it when it has dropped significant digits. Other currencies'
    markers (``$``, ``USD``) are rejected rather than stripped: the currency is a field of its own.
    """
    return _parsed(_parse_amount, fast="amount")(s)


def bad_reason(text: str, type: str) -> str:
    """Why a value of ``type`` could not be read (the reason code its row or field gets)."""
    value = text.translate(HALFWIDTH).strip()
    if type in ("date", "datetime"):
        if is_partial_date(value) and not (len(value) == 8 and value.isdigit()):
            return "partial_date"
        if _EXCEL_SERIAL_RE.fullmatch(value) and _excel_serial(value) is not None:
            return "date_as_number"
    if type == "amount" and _parse_decimal(value) is not None:
        return "amount_precision"
    return f"unparseable_{type}"


def integer(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(integer string | None, bad)`` from digits with an optional sign and thousands separators.
    A ``.0`` suffix (a spreadsheet's float spelling of an integer) is accepted; other fractions are bad."""
    return _parsed(_parse_integer, fast="integer")(s)


# --------------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------------

_STRING_FORMATS: dict[str | None, Callable[[pd.Series], pd.Series]] = {
    None: lambda u: u,
    "mobile": _u_mobile_safe,
    "landline": _u_landline_safe,
    "resident_id": _u_resident_id_safe,
    "uscc": _unless(r"^[0-9A-Z]+$", _keep_scientific(_u_uscc)),
    "email": _u_email_fast,
    "gender": _u_gender,
    "currency": _u_currency,
    "bank_card": _u_bank_card_safe,
}
_TYPE_PARSERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "integer": integer,
    "amount": amount,
    "date": date,
    "datetime": datetime,
    "boolean": boolean,
}
FREE_TEXT = "free_text"


def _u_country(u: pd.Series) -> pd.Series:
    from handover.countries import country_code

    return u.map(country_code, na_action="ignore")


def _u_document(u: pd.Series) -> pd.Series:
    """A document number before its type is known: no blanks inside, upper case (handover.documents then
    spells it as its type does); scientific notation untouched."""
    return u.str.replace(_ANY_BLANK_RE, "", regex=True).str.upper()


_STRING_FORMATS["country"] = _u_country
_STRING_FORMATS["document"] = _unless(r"^[0-9A-Z]+$", _u_document)


def _no_expiry(s: pd.Series) -> pd.Series:
    """长期 / 长期有效 … (a document that never expires) as the greatest date, before the date parser."""
    def one(v):
        return NO_EXPIRY_DATE if isinstance(v, str) and v.strip().lower() in NO_EXPIRY else v
    return s.map(one) if len(s) else s


def normalise_column(s: pd.Series, type: str, format: str | None = None, *, serial: bool = False,
                     partial: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Normalise a column of the given canonical value ``type`` and ``format``.

    Every value is first converted to half-width and stripped (blank -> None), except with
    ``format="free_text"``, where values are only stripped. Then ``type`` decides: strings are cleaned
    according to ``format`` (see the single-format functions; ``bank_card`` drops spaces and dashes,
    ``currency`` also maps 人民币/RMB/美元 … to ISO codes); integer, amount, date, datetime and boolean are
    parsed. Returns ``(values, bad)``: ``bad`` is True where a non-empty input could not be parsed as its
    type (never for strings: their validity is for :mod:`handover.validators`).

    Raises ``ValueError`` for an unknown type or format (the message names only the type/format).
    """
    if format == FREE_TEXT:
        return _run(s, _values_only(_u_strip))
    if type == "string":
        if format not in _STRING_FORMATS:
            raise ValueError(f"unknown string format: {format!r}")
        return _run(s, _values_only(_chain(_u_common, _STRING_FORMATS[format])))
    if type not in _TYPE_PARSERS:
        raise ValueError(f"unknown value type: {type!r}")
    if type in ("date", "datetime"):
        if format == "expiry":
            s = _no_expiry(s)
        return _TYPE_PARSERS[type](s, serial=serial, partial=partial)
    return _TYPE_PARSERS[type](s)
