"""Format validators for the canonical model's ``format`` names (see :mod:`handover.canonical`).

Each scalar function checks one rule on a value that :mod:`handover.normalise` has already cleaned
(half-width, stripped, separators removed, trailing ``x`` upper-cased …) and returns ``bool``; ``None``,
the empty string and non-strings are never valid. The functions are pure: no I/O, no logging, and no
customer value ever ends up in an exception message.

Rules implemented:

- resident ID (居民身份证号码, GB 11643-1999): 18 characters, ISO 7064 MOD 11-2 check character, a valid
  province code and a real, non-future birth date (year >= 1900). First-generation 15-digit IDs are not
  accepted;
- USCC (统一社会信用代码, GB 32100-2015): 18 characters of the 31-character alphabet and a MOD 31 check
  character;
- bank card: 16–19 digits and a Luhn check digit;
- mainland mobile and landline numbers, e-mail, gender code, ISO 4217 currency code;
- scientific notation (``4.40106E+17``): what Excel does to long numeric IDs. The lost digits cannot be
  recovered, so such values must be flagged, never "repaired".

:func:`valid_mask` applies a format to a whole pandas Series, validating each distinct value once.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from itertools import repeat
from typing import TYPE_CHECKING

from handover import phones

if TYPE_CHECKING:  # numpy and pandas are imported by the Series checks that use them, not by the scalar ones
    import numpy as np
    import pandas as pd

__all__ = [
    "CURRENCIES",
    "FORMAT_VALIDATORS",
    "GENDERS",
    "PROVINCE_CODES",
    "RESIDENT_ID_WEIGHTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "is_bank_card",
    "is_currency",
    "is_email",
    "is_gender",
    "is_landline",
    "is_luhn",
    "is_mobile",
    "is_resident_id",
    "is_scientific_notation",
    "is_uscc",
    "luhn_check_digit",
    "resident_id_birth_date",
    "resident_id_check_char",
    "resident_id_sex",
    "uscc_check_char",
    "valid_mask",
]

# --------------------------------------------------------------------------------------------------
# Resident identity card number (GB 11643-1999, ISO 7064 MOD 11-2)
# --------------------------------------------------------------------------------------------------

RESIDENT_ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_RESIDENT_ID_RE = re.compile(r"[0-9]{17}[0-9X]")

# First two digits: province-level division (GB/T 2260), plus 71 Taiwan, 81 Hong Kong, 82 Macao and 83
# (residence permits for Taiwan residents).
PROVINCE_CODES: frozenset[str] = frozenset(
    f"{n:02d}"
    for n in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        83,
    )
)


def resident_id_check_char(body17: str) -> str:
    """The check character (``0``–``9`` or ``X``) for the first 17 digits of a resident ID.

    Raises ``ValueError`` (without echoing the input) unless ``body17`` is exactly 17 ASCII digits.
    """
    if not (isinstance(body17, str) and len(body17) == 17 and body17.isascii() and body17.isdigit()):
        raise ValueError("resident ID body must be 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(body17, RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def _resident_id_date(v: str) -> _dt.date | None:
    """The calendar date in characters 7–14 (YYYYMMDD), or None if it is not a real date."""
    try:
        return _dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return None


def is_resident_id(v: str | None, *, today: _dt.date | None = None) -> bool:
    """True for an 18-character mainland resident ID with a valid check character, province code and
    birth date (a real date, year >= 1900, not after ``today`` — default: the current date)."""
    if not isinstance(v, str) or not _RESIDENT_ID_RE.fullmatch(v):
        return False
    if v[:2] not in PROVINCE_CODES:
        return False
    birth = _resident_id_date(v)
    if birth is None or birth.year < 1900 or birth > (today or _dt.date.today()):
        return False
    return resident_id_check_char(v[:17]) == v[17]


@cache
def _id_arrays():
    """(province numbers, check characters' code points) as numpy arrays, made on first use."""
    import numpy as np

    return np.array(sorted(int(p) for p in PROVINCE_CODES)), \
        np.array([ord(c) for c in _RESIDENT_ID_CHECK], dtype=np.uint32)


# Within `remembering()`: each value's `resident_ids_ok` answer. A customers suite asks about the same
# ID column three times (format, sex, birth date), each time on a differently filtered Series.
_remembered: ContextVar[dict | None] = ContextVar("handover_resident_ids", default=None)


@contextmanager
def remembering() -> Iterator[None]:
    """Within the block, `resident_ids_ok` checks each distinct value once; the answers go when it ends."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def resident_ids_ok(values: pd.Series, *, today: _dt.date | None = None) -> np.ndarray:
    """`is_resident_id` over a Series at numpy speed (same rule, same answers); missing values → False."""
    import numpy as np
    import pandas as pd

    memo = _remembered.get()
    if memo is None or today is not None:
        return _resident_ids_ok(values, today)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = list(uniques)
    unknown = [v for v in distinct if v not in memo]
    if unknown:
        memo.update(zip(unknown, _resident_ids_ok(pd.Series(unknown, dtype=object), None).tolist(), strict=True))
    known = np.fromiter((memo[v] for v in distinct), dtype=bool, count=len(distinct))
    ok = np.zeros(len(values), dtype=bool)
    present = codes >= 0
    ok[present] = known[codes[present]]
    return ok


def _resident_ids_ok(values: pd.Series, today: _dt.date | None) -> np.ndarray:
    import numpy as np
    import pandas as pd

    province_numbers, check_codepoints = _id_arrays()
    text = values.astype(object).where(values.notna(), "")
    shaped = np.fromiter(map(isinstance, text, repeat(str)), dtype=bool, count=len(text))
    shaped &= np.array(text.astype(str).str.fullmatch(_RESIDENT_ID_RE.pattern).fillna(False), dtype=bool)
    ok = np.zeros(len(values), dtype=bool)
    if not shaped.any():
        return ok
    chars = np.array(text[shaped].tolist(), dtype="<U18").view(np.uint32).reshape(-1, 18)
    digits = chars[:, :17].astype(np.int64) - 48
    good = np.array(check_codepoints[(digits @ np.array(RESIDENT_ID_WEIGHTS)) % 11] == chars[:, 17])
    good &= np.isin(digits[:, 0] * 10 + digits[:, 1], province_numbers)
    births = pd.to_datetime(pd.Series(text[shaped].str.slice(6, 14).to_numpy()), format="%Y%m%d", errors="coerce")
    limit = pd.Timestamp(today or _dt.date.today())
    good &= np.array(births.notna() & (births.dt.year >= 1900) & (births <= limit), dtype=bool)
    ok[np.flatnonzero(shaped)] = good
    return ok


def resident_id_sexes(values: pd.Series) -> pd.Series:
    """`resident_id_sex` over a Series: "M"/"F" for valid IDs, None otherwise."""
    import numpy as np
    import pandas as pd

    ok = resident_ids_ok(values)
    out = pd.Series(np.full(len(values), None, dtype=object), index=values.index, dtype=object)
    if ok.any():
        # the 17th character's code point has the parity of its digit (ord("0") is even)
        digit = np.array(values[ok].tolist(), dtype="<U18").view(np.uint32).reshape(-1, 18)[:, 16]
        out[ok] = np.where(digit % 2 == 1, "M", "F")
    return out


def resident_id_births(values: pd.Series) -> pd.Series:
    """The ISO birth date inside each valid ID (YYYY-MM-DD), None otherwise."""
    import numpy as np
    import pandas as pd

    ok = resident_ids_ok(values)
    out = pd.Series(np.full(len(values), None, dtype=object), index=values.index, dtype=object)
    if ok.any():
        s = values[ok].astype(str)
        out[ok] = (s.str.slice(6, 10) + "-" + s.str.slice(10, 12) + "-" + s.str.slice(12, 14)).to_numpy(dtype=object)
    return out


def resident_id_birth_date(v: str | None) -> _dt.date | None:
    """The birth date embedded in a valid resident ID; None if ``v`` is not a valid resident ID."""
    return _resident_id_date(v) if is_resident_id(v) else None


def resident_id_sex(v: str | None) -> str | None:
    """``"M"`` if the 17th digit of a valid resident ID is odd, else ``"F"``; None if ``v`` is invalid."""
    if not is_resident_id(v):
        return None
    assert v is not None
    return "M" if int(v[16]) % 2 else "F"


# --------------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# --------------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z; valued 0..30
USCC_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_RE = re.compile(f"[{USCC_ALPHABET}]{{18}}")


def uscc_check_char(body17: str) -> str:
    """The check character for the first 17 characters of a USCC.

    Raises ``ValueError`` (without echoing the input) unless ``body17`` is 17 characters of the alphabet.
    """
    if not (isinstance(body17, str) and len(body17) == 17 and all(c in _USCC_VALUE for c in body17)):
        raise ValueError("USCC body must be 17 characters of the USCC alphabet")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_uscc(v: str | None) -> bool:
    """True for an 18-character unified social credit code with a valid check character."""
    if not isinstance(v, str) or not _USCC_RE.fullmatch(v):
        return False
    return uscc_check_char(v[:17]) == v[17]


# --------------------------------------------------------------------------------------------------
# Bank cards (Luhn)
# --------------------------------------------------------------------------------------------------

_DIGITS_RE = re.compile(r"[0-9]+")
_BANK_CARD_RE = re.compile(r"[0-9]{16,19}")


def _luhn_sum(digits: str, double_first: bool) -> int:
    """Luhn sum of ``digits`` read right to left; the rightmost digit is doubled iff ``double_first``."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if (i % 2 == 0) == double_first:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def luhn_check_digit(body: str) -> str:
    """The Luhn digit to append to ``body`` (ASCII digits; raises ``ValueError`` otherwise)."""
    if not (isinstance(body, str) and _DIGITS_RE.fullmatch(body)):
        raise ValueError("Luhn body must be ASCII digits")
    return str((10 - _luhn_sum(body, double_first=True) % 10) % 10)


def is_luhn(v: str | None) -> bool:
    """True if ``v`` is at least two ASCII digits whose last digit is a correct Luhn check digit."""
    if not isinstance(v, str) or len(v) < 2 or not _DIGITS_RE.fullmatch(v):
        return False
    return _luhn_sum(v, double_first=False) % 10 == 0


def is_bank_card(v: str | None) -> bool:
    """True for a 16–19 digit card number passing the Luhn check."""
    return isinstance(v, str) and bool(_BANK_CARD_RE.fullmatch(v)) and is_luhn(v)


# --------------------------------------------------------------------------------------------------
# Phones, e-mail
# --------------------------------------------------------------------------------------------------

_MOBILE_RE = re.compile(phones.MOBILE)
# 0 + 2–3 digit area code (not 00: that is the international prefix), optional dash, a 7–8 digit local
# number not starting with 0, optional dash + extension.
_LANDLINE_RE = re.compile(r"0[1-9][0-9]{1,2}-?[1-9][0-9]{6,7}(?:-[0-9]{1,6})?")
_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@(?:{_EMAIL_LABEL}\.)+[A-Za-z]{{2,63}}")


def is_mobile(v: str | None) -> bool:
    """True for a normalised mainland mobile number (:mod:`handover.phones`: 11 digits, ``1`` then ``3``–``9``)."""
    return phones.is_mobile(v)


def is_landline(v: str | None) -> bool:
    """True for a normalised mainland landline: ``010-12345678``, ``0755-1234567``, ``021-12345678-123``
    or the same without the area-code dash (``01012345678``)."""
    return isinstance(v, str) and bool(_LANDLINE_RE.fullmatch(v))


def is_email(v: str | None) -> bool:
    """True for a pragmatic ``local@domain.tld`` address: ASCII, one ``@``, no spaces, at most 254
    characters, dot-separated atoms on the left and hostname labels with an alphabetic TLD on the right."""
    return isinstance(v, str) and len(v) <= 254 and bool(_EMAIL_RE.fullmatch(v))


# --------------------------------------------------------------------------------------------------
# Scientific notation (Excel damage)
# --------------------------------------------------------------------------------------------------

_SCIENTIFIC_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")


def is_scientific_notation(v: str | None) -> bool:
    """True for a number written in scientific notation (``4.40106E+17``, ``4.40106e17``, ``1.1E+17``):
    a long numeric identifier that Excel has rounded; its digits are lost."""
    return isinstance(v, str) and bool(_SCIENTIFIC_RE.fullmatch(v))


# --------------------------------------------------------------------------------------------------
# Code lists
# --------------------------------------------------------------------------------------------------

GENDERS: frozenset[str] = frozenset({"M", "F"})

# ISO 4217 codes a mainland / Greater China branch realistically holds.
CURRENCIES: frozenset[str] = frozenset(
    {
        "CNY", "USD", "HKD", "EUR", "JPY", "GBP", "MOP", "TWD", "AUD", "CAD",
        "CHF", "SGD", "NZD", "KRW", "THB", "MYR", "RUB", "SEK", "DKK", "NOK",
    }
)  # fmt: skip


def is_gender(v: str | None) -> bool:
    """True for a normalised gender code, ``"M"`` or ``"F"``."""
    return isinstance(v, str) and v in GENDERS


def is_currency(v: str | None) -> bool:
    """True for one of the supported ISO 4217 currency codes (upper case)."""
    return isinstance(v, str) and v in CURRENCIES


# --------------------------------------------------------------------------------------------------
# Dispatch and vectorised application
# --------------------------------------------------------------------------------------------------

# ISO 4217 minor units (decimals) of the currencies above that do not use two.
CURRENCY_DECIMALS: dict[str, int] = {"JPY": 0, "KRW": 0}


def currency_decimals(code: str | None) -> int:
    """How many decimals an amount in this currency may have (2 unless ISO 4217 says otherwise)."""
    return CURRENCY_DECIMALS.get(code or "", 2)


def is_country(v: str | None) -> bool:
    """True for an ISO 3166-1 alpha-3 country code (what :mod:`handover.countries` spells countries as)."""
    from handover.countries import is_country as known

    return known(v)


FORMAT_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "country": is_country,
    "resident_id": is_resident_id,
    "uscc": is_uscc,
    "bank_card": is_bank_card,
    "mobile": is_mobile,
    "landline": is_landline,
    "email": is_email,
    "gender": is_gender,
    "currency": is_currency,
}

# Cheap shape checks run with pandas ``.str`` over the distinct values before the per-value function;
# for the formats in _REGEX_IS_RULE the shape check is the whole rule.
_PREFILTERS: dict[str, re.Pattern[str]] = {
    "country": re.compile(r"[A-Z]{3}"),
    "resident_id": _RESIDENT_ID_RE,
    "uscc": _USCC_RE,
    "bank_card": _BANK_CARD_RE,
    "mobile": _MOBILE_RE,
    "landline": _LANDLINE_RE,
    "email": _EMAIL_RE,
}
_REGEX_IS_RULE = frozenset({"mobile", "landline"})
_CODE_LISTS: dict[str, frozenset[str]] = {"gender": GENDERS, "currency": CURRENCIES}


def valid_mask(values: pd.Series, fmt: str) -> pd.Series:
    """Boolean Series (same index): True where the value satisfies ``fmt`` or is missing (None/NaN).

    Missing values count as valid: whether a field is required is a separate rule. Each distinct value is
    validated once, so a large column with repeats costs about as much as its distinct values.
    Raises ``KeyError`` for an unknown format name.
    """
    import numpy as np
    import pandas as pd

    if fmt not in FORMAT_VALIDATORS:
        raise KeyError(f"unknown format: {fmt!r}")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    is_str = distinct.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    ok = np.zeros(len(distinct), dtype=bool)
    if fmt in _CODE_LISTS:
        ok = distinct.isin(_CODE_LISTS[fmt]).to_numpy(dtype=bool) & is_str
    else:
        strings = distinct[is_str]
        shaped = strings[strings.str.fullmatch(_PREFILTERS[fmt].pattern).fillna(False).to_numpy(dtype=bool)]
        if fmt in _REGEX_IS_RULE:
            ok[shaped.index.to_numpy()] = True
        elif fmt == "resident_id":
            ok[shaped.index.to_numpy()] = resident_ids_ok(shaped)
        else:
            check = FORMAT_VALIDATORS[fmt]
            passed = np.fromiter((check(v) for v in shaped), dtype=bool, count=len(shaped))
            ok[shaped.index.to_numpy()[passed]] = True
    result = np.ones(len(codes), dtype=bool)
    present = codes >= 0
    result[present] = ok[codes[present]]
    return pd.Series(result, index=values.index, name=values.name, dtype=bool)
