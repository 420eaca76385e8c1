"""Identity documents (证件类型): what a branch's 证件号码 column holds, and the rule for each type's number.

A customer row names its document type (证件类型) beside the number. The contract maps the branch's own codes
or spellings onto the codes below (:data:`LABELS` has the usual spellings; numeric bank codes differ by bank
and stay in the contract); this module normalises and validates each number by its type. The checksums of
GB 11643 and GB 32100 live in :mod:`handover.validators` and are only called from here.

===================================  ==================  ================================================
code                                 document            number (normalised)
===================================  ==================  ================================================
``resident_id``                      居民身份证,         18 chars, GB 11643-1999: MOD 11-2 check char,
                                     临时身份证, 户口簿  province code, real birth date
``residence_permit``                 港澳台居民居住证    the same, from ``810000``/``820000``/``830000``
``foreign_permanent_resident``       外国人永久居留证    3 letters + 12 digits, ICAO 9303 check digit
                                                         (2004/2017); 18 digits from ``9``, GB 11643
                                                         layout and check char (2023)
``passport``                         护照 (中国, 外国)   5–17 letters/digits, at least one digit
``hk_macau_permit``                  回乡证              ``H``/``M`` + 8 digits (card), + 10 (booklet)
``taiwan_permit``                    台胞证              8 digits; booklet 10 digits, maybe ``(B)``
``mainland_travel_permit_hk_macau``  往来港澳通行证      ``C`` + 8 digits, ``C`` + letter + 7 digits,
                                                         ``W`` + 8 digits (booklet)
``uscc``                             统一社会信用代码    18 chars, GB 32100-2015 MOD 31 check char
``organisation_code``                组织机构代码        8 digits/letters, GB 11714-1997 MOD 11 check
``business_licence``                 营业执照            15 digits, GS 15-2006 MOD 11,10 check digit;
                                                         or the USCC a licence carries since 2015
``military_officer``                 军官证, 士兵证      sanity only: CJK prefix, 字第/第, 6–12 digits
``police_officer``                   警官证              sanity only, as military_officer
``other``                            其他证件            sanity only (``checked=False``): 4–32 letters,
                                                         digits, CJK or ``()-/``, at least one digit
===================================  ==================  ================================================

Scientific notation (``4.40106E+17``) is Excel's damage to a long number; the digits are gone, so such a value
is never repaired and never valid, under any type, and its reason is ``id_scientific_notation``. A value that
is a valid USCC, or valid for its declared (checked) type, is never taken for scientific notation, even where
its letters make it read like one (``913100000E12345041``).

The Series functions work once per distinct (type, number) pair, so a 100,000-row chunk with repeats costs
about as much as its distinct pairs; the resident-ID types use the numpy rule of
:func:`handover.validators.resident_ids_ok`. Nothing here logs, and no exception message carries a value.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from handover.masks import KEEP_ENDS
from handover.normalise import HALFWIDTH
from handover.validators import (
    PROVINCE_CODES,
    is_resident_id,
    is_scientific_notation,
    is_uscc,
    resident_id_check_char,
    resident_ids_ok,
)

__all__ = [
    "DOCUMENT_TYPES",
    "LABELS",
    "REASONS",
    "DocumentType",
    "business_licence_check_digit",
    "document_codes",
    "document_type",
    "icao_check_digit",
    "is_business_licence",
    "is_chinese_passport",
    "is_foreign_permanent_resident",
    "is_organisation_code",
    "normalise_numbers",
    "organisation_code_check_char",
    "reasons_for",
    "uscc_organisation_code",
    "valid_numbers",
]

# --------------------------------------------------------------------------------------------------
# Cleaning shared by the types
# --------------------------------------------------------------------------------------------------

# Blanks inside a value (the export's edges are stripped before): Unicode spaces and the characters a
# spreadsheet shows as nothing (zero-width space/joiners, word joiner, BOM).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_BLANKS = re.compile(rf"[\s{_INVISIBLE}]+")
# Blanks and the dashes people type between groups of digits (ASCII, hyphens, en/em dashes).
_BLANKS_AND_DASHES = re.compile(rf"[\s{_INVISIBLE}\-\u2010-\u2015]+")
# Full-width and CJK brackets to ASCII (the older 台胞证 suffix is written ``(B)``, ``（B）``, ``【B】`` …).
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "〔": "(", "〕": ")"})
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"

# Mainland provinces: where a permanent-residence card is applied for (not 71/81/82/83, which exist only
# as the address codes of people from Taiwan, Hong Kong and Macao).
_MAINLAND_PROVINCES = PROVINCE_CODES - {"71", "81", "82", "83"}


def _clean(value: str, remove: re.Pattern[str]) -> str:
    if not value.isascii():  # the brackets to translate are not ASCII (a cheap test: most values are)
        value = value.translate(_BRACKETS)
    return remove.sub("", value).upper()


def _scientific(value: str) -> bool:
    """:func:`validators.is_scientific_notation`, after the cheap test for an exponent at all."""
    return ("E" in value or "e" in value) and is_scientific_notation(value)


def _real_birth_date(year: int, month: int, day: int) -> bool:
    """A real calendar date from 1900 up to today (the bounds :func:`validators.is_resident_id` uses)."""
    try:
        born = _dt.date(year, month, day)
    except ValueError:
        return False
    return born.year >= 1900 and born <= _dt.date.today()


# --------------------------------------------------------------------------------------------------
# Rules beyond the shape, one per type that has one
# --------------------------------------------------------------------------------------------------

# ICAO Doc 9303 part 3 (check digits in the MRZ): the sum of the values × 7, 3, 1, 7, 3, 1 … mod 10,
# digits valued 0–9, letters A–Z 10–35, the filler "<" 0.
_ICAO_WEIGHTS = (7, 3, 1)


def _icao_value(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    if "A" <= c <= "Z":
        return ord(c) - 55
    if c == "<":
        return 0
    raise ValueError("ICAO 9303 characters are 0-9, A-Z and <")


def icao_check_digit(body: str) -> str:
    """The ICAO 9303 check digit (7-3-1 weights, mod 10) of ``body``; ``ValueError`` (without the value) for
    characters outside ``0-9 A-Z <``."""
    if not isinstance(body, str):
        raise TypeError("ICAO 9303 body must be a string")
    total = sum(_icao_value(c) * _ICAO_WEIGHTS[i % 3] for i, c in enumerate(body))
    return str(total % 10)


def is_foreign_permanent_resident(v: str | None) -> bool:
    """True for a 外国人永久居留身份证 number of either form.

    - 2004/2017 card, 15 characters: ISO 3166-1 alpha-3 nationality (letters, not checked against the list),
      4 digits of the receiving office's division code (its first two a mainland province), the birth date
      YYMMDD (a real date in 19YY or 20YY), 2 more digits. The National Immigration Administration's rules
      publish no check rule for this form; one open-source library reads the last digit as an ICAO 9303
      check digit, but an independently written export corpus (tests/corpus/exports) has numbers without
      one, and rejecting a good customer's card on an unpublished rule costs more than it saves: the shape,
      the office and the birth date are checked (`icao_check_digit` stays for whoever can confirm it);
    - 2023 card, 18 characters: ``9``, a 2-digit mainland province, the 3-digit ISO 3166-1 numeric
      nationality, YYYYMMDD, 3 sequence digits and the GB 11643 MOD 11-2 check character.
    """
    if not isinstance(v, str):
        return False
    if len(v) == 15 and _FPR_2004.fullmatch(v):
        if v[3:5] not in _MAINLAND_PROVINCES:
            return False
        yy, month, day = int(v[7:9]), int(v[9:11]), int(v[11:13])
        return _real_birth_date(1900 + yy, month, day) or _real_birth_date(2000 + yy, month, day)
    if len(v) == 18 and _FPR_2023.fullmatch(v):
        if v[1:3] not in _MAINLAND_PROVINCES:
            return False
        if not _real_birth_date(int(v[6:10]), int(v[10:12]), int(v[12:14])):
            return False
        return resident_id_check_char(v[:17]) == v[17]
    return False


_FPR_2004 = re.compile(r"[A-Z]{3}[0-9]{12}")
_FPR_2023 = re.compile(r"9[0-9]{16}[0-9X]")

# GB 11714-1997: 8 body characters (digits, capital letters valued A=10 … Z=35), weights 3 7 9 10 5 8 4 2,
# check = 11 - (sum mod 11); 10 is written "X" and 11 "0".
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORGANISATION_BODY = re.compile(r"[0-9A-Z]{8}")


def organisation_code_check_char(body8: str) -> str:
    """The GB 11714 check character of the 8 body characters; ``ValueError`` (without the value)
    otherwise."""
    if not (isinstance(body8, str) and body8.isascii() and _ORGANISATION_BODY.fullmatch(body8)):
        raise ValueError("organisation code body must be 8 ASCII digits or capital letters")
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORGANISATION_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def is_organisation_code(v: str | None) -> bool:
    """True for a normalised 9-character organisation code (no dash) with a valid GB 11714 check character."""
    return (isinstance(v, str) and len(v) == 9 and bool(_ORGANISATION.fullmatch(v))
            and organisation_code_check_char(v[:8]) == v[8])


_ORGANISATION = re.compile(r"[0-9A-Z]{8}[0-9X]")

# GS 15-2006 (工商行政管理市场主体注册号编制规则): the 15th digit is an ISO 7064 MOD 11,10 hybrid check
# digit (GB/T 17710): P = 10; for each digit S = (P + d) mod 10, or 10 if that is 0; P = 2·S mod 11; the
# number is valid when (P + check digit) mod 10 = 1. Example in the standard: 110108000000016.
_BUSINESS_LICENCE = re.compile(r"[0-9]{15}")


def _mod_11_10_carry(digits: str) -> int:
    carry = 10
    for c in digits:
        s = (carry + ord(c) - 48) % 10 or 10
        carry = s * 2 % 11
    return carry


def business_licence_check_digit(body14: str) -> str:
    """The GS 15-2006 check digit for the first 14 digits; ``ValueError`` (without the value) otherwise."""
    if not (isinstance(body14, str) and len(body14) == 14 and body14.isascii() and body14.isdigit()):
        raise ValueError("business registration number body must be 14 ASCII digits")
    return str((11 - _mod_11_10_carry(body14)) % 10)


def is_business_licence(v: str | None) -> bool:
    """True for a 15-digit registration number (注册号) whose first two digits are a province or ``10``
    (the State Administration's own code 100000) and whose GS 15-2006 check digit is right."""
    if not (isinstance(v, str) and _BUSINESS_LICENCE.fullmatch(v)):
        return False
    if v[:2] not in PROVINCE_CODES and v[:2] != "10":
        return False
    return (_mod_11_10_carry(v[:14]) + ord(v[14]) - 48) % 10 == 1


def _business_licence_or_uscc(v: str) -> bool:
    # Licences issued since the 2015 three-in-one reform (三证合一) carry the USCC as their number.
    return is_business_licence(v) or is_uscc(v)


def _residence_permit(v: str) -> bool:
    return v[:6] in _RESIDENCE_PREFIXES and is_resident_id(v)


_RESIDENCE_PREFIXES = frozenset({"810000", "820000", "830000"})  # Hong Kong, Macao, Taiwan


def _has_digit(v: str) -> bool:
    return any("0" <= c <= "9" for c in v)


# Passports of the PRC and its SARs (ordinary E + 8 digits, E + letter + 7 digits since 2012, older G + 8;
# diplomatic/service/public-affairs DE/SE/PE + 7; Hong Kong SAR K + 8; Macao SAR MA + 7). Informational:
# a foreign passport can have any of these shapes, so the passport rule does not depend on it.
_CHINESE_PASSPORT = re.compile(
    r"E[0-9]{8}|E[A-HJ-NP-Z][0-9]{7}|G[0-9]{8}|[DSP]E[0-9]{7}"  # PRC
    r"|K[0-9]{8}|MA[0-9]{7}"  # Hong Kong SAR, Macao SAR
)


def is_chinese_passport(v: str | None) -> bool:
    """True for a normalised number in one of the PRC / SAR passport formats."""
    return isinstance(v, str) and bool(_CHINESE_PASSPORT.fullmatch(v))


def _bulk_resident_ids(values: list[str]) -> np.ndarray:
    return resident_ids_ok(pd.Series(values, dtype=object))


def _bulk_residence_permits(values: list[str]) -> np.ndarray:
    prefixed = np.fromiter((v[:6] in _RESIDENCE_PREFIXES for v in values), dtype=bool, count=len(values))
    return prefixed & _bulk_resident_ids(values)


# --------------------------------------------------------------------------------------------------
# The document types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentType:
    """One identity-document type: its names, who holds it, how its number is spelled and checked."""

    code: str
    label_zh: str
    label_en: str
    holder: str  # "individual" | "organisation"
    reason: str  # reason code (handover.reasons) for a number of this type that fails its rule
    mask_keep: tuple[int, int]  # characters masks.keep_ends keeps at the start and the end
    embeds_birth: bool  # the number carries a birth date and sex digit where GB 11643 puts them
    checked: bool  # False only for "other": no known format, a sanity check only
    pattern: re.Pattern[str] = field(repr=False)  # the shape of a normalised number (full match)
    check: Callable[[str], bool] | None = field(default=None, repr=False)  # the rule beyond the shape
    remove: re.Pattern[str] = field(default=_BLANKS_AND_DASHES, repr=False)  # what normalise deletes
    bulk: Callable[[list[str]], np.ndarray] | None = field(default=None, repr=False, compare=False)
    source: str = ""  # the standard or reference the rule follows

    def normalise(self, value: str) -> str:
        """The canonical spelling of an already stripped, half-width value: brackets to ASCII, separators this
        format does not have removed, upper case. Scientific notation stays as written (to be flagged) unless
        the cleaned value is valid for this type or a valid USCC."""
        if self.checked and self.pattern.fullmatch(value):
            return value  # canonical already: no checked shape has a blank, dash, lower case or wide bracket
        cleaned = _clean(value, self.remove)
        if _scientific(value) and not (self.checked and self.is_valid(cleaned)) and not is_uscc(cleaned):
            return value
        return cleaned

    def is_valid(self, value: str) -> bool:
        """True if the normalised ``value`` has this type's shape and passes its rule."""
        return (isinstance(value, str) and self.pattern.fullmatch(value) is not None
                and (self.check is None or self.check(value)))

    def valid_many(self, values: list[str]) -> np.ndarray:
        """:meth:`is_valid` over normalised values (numpy speed for the resident-ID types)."""
        if self.bulk is not None:
            return np.asarray(self.bulk(values), dtype=bool)
        return np.fromiter(map(self.is_valid, values), dtype=bool, count=len(values))


# Military and police cards follow no published numbering standard: each service prints its own, often as
# "<service>字第<digits>号" (南字第12345678号), sometimes digits only. These are sanity patterns.
_SERVICE_CARD = re.compile(
    rf"[{_CJK}]{{1,4}}字第[0-9A-Z]{{4,8}}号?"  # the common 军官证 form
    rf"|[{_CJK}]{{0,8}}第?[0-9]{{6,12}}号?"  # a prefix, optionally 第 … 号, around 6–12 digits
)
# Anything else: 4–32 letters, digits (any script), CJK or the separators ( ) - /, with at least one digit.
_OTHER = re.compile(r"(?=[^0-9]*[0-9])(?:[^\W_]|[()\-/]){4,32}")

_TYPES = (
    DocumentType(
        "resident_id", "居民身份证", "resident identity card", "individual", "invalid_resident_id",
        KEEP_ENDS["resident_id"], embeds_birth=True, checked=True,
        pattern=re.compile(r"[0-9]{17}[0-9X]"), check=is_resident_id, bulk=_bulk_resident_ids,
        source="GB 11643-1999 公民身份号码 (ISO 7064 MOD 11-2); handover.validators.is_resident_id",
    ),
    DocumentType(
        "residence_permit", "港澳台居民居住证", "residence permit for Hong Kong, Macao and Taiwan residents",
        "individual", "invalid_residence_permit", KEEP_ENDS["resident_id"], embeds_birth=True, checked=True,
        pattern=re.compile(r"8[123]0000[0-9]{11}[0-9X]"), check=_residence_permit,
        bulk=_bulk_residence_permits,
        source="港澳台居民居住证申领发放办法 (国务院办公厅, 2018): a GB 11643 number with the address "
               "code 810000 / 820000 / 830000",
    ),
    # The 2023 number has the GB 11643 layout, but its leading 9 is no province: the resident-ID helpers
    # (birth date, sex) reject it, so the type does not claim embeds_birth.
    DocumentType(
        "foreign_permanent_resident", "外国人永久居留身份证", "foreign permanent resident ID card",
        "individual", "invalid_foreign_permanent_resident", (3, 3), embeds_birth=False, checked=True,
        pattern=re.compile(r"[A-Z]{3}[0-9]{12}|9[0-9]{16}[0-9X]"), check=is_foreign_permanent_resident,
        source="国家移民管理局 新版外国人永久居留身份证机读信息规则 (2023: 18 digits from 9, MOD 11-2); "
               "2004/2017 card: 3 letters + 12 digits, ICAO 9303 7-3-1 check digit",
    ),
    DocumentType(
        "passport", "护照", "passport", "individual", "invalid_passport", (1, 3),
        embeds_birth=False, checked=True,
        pattern=re.compile(r"[0-9A-Z]{5,17}"), check=_has_digit,
        source="ICAO Doc 9303 document number (alphanumeric); PRC formats E/G/DE/SE/PE (is_chinese_passport)",
    ),
    DocumentType(
        "hk_macau_permit", "港澳居民来往内地通行证",
        "mainland travel permit for Hong Kong and Macao residents", "individual", "invalid_hk_macau_permit",
        (1, 3), embeds_birth=False, checked=True,
        pattern=re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})"),
        source="公安部出入境管理局: H (Hong Kong) / M (Macao) + 8 digits on the card (2013); "
               "the booklet added a 2-digit issue count",
    ),
    DocumentType(
        "taiwan_permit", "台湾居民来往大陆通行证", "mainland travel permit for Taiwan residents",
        "individual", "invalid_taiwan_permit", (1, 2), embeds_birth=False, checked=True,
        pattern=re.compile(r"[0-9]{8}|[0-9]{10}(?:\([0-9A-Z]\))?"),
        source="公安部, from 2008-09-25: the 8-digit lifelong number (the card since 2015); the 1992 "
               "booklet: 8 digits + 2-digit issue count + (issuing office), no suffix in Fujian, Jiangsu "
               "and Shanghai from 2006 (中新社 2008-09-11)",
    ),
    DocumentType(
        "mainland_travel_permit_hk_macau", "往来港澳通行证", "exit-entry permit for travelling to and from "
        "Hong Kong and Macao", "individual", "invalid_mainland_travel_permit_hk_macau", (1, 3),
        embeds_birth=False, checked=True,
        pattern=re.compile(r"C(?:[0-9]{8}|[A-HJ-NP-Z][0-9]{7})|W[0-9]{8}"),
        source="公安部出入境管理局: card (2014) C + 8 digits, later C + letter + 7 digits; "
               "booklet W + 8 digits (as handover.pii.recognizers.travel_documents)",
    ),
    DocumentType(
        "uscc", "统一社会信用代码", "unified social credit code", "organisation", "invalid_uscc",
        KEEP_ENDS["uscc"], embeds_birth=False, checked=True,
        pattern=re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}"), check=is_uscc,
        source="GB 32100-2015 法人和其他组织统一社会信用代码编码规则 (MOD 31); handover.validators.is_uscc",
    ),
    DocumentType(
        "organisation_code", "组织机构代码", "organisation code", "organisation", "invalid_organisation_code",
        (2, 2), embeds_birth=False, checked=True,
        pattern=_ORGANISATION, check=is_organisation_code,
        source="GB 11714-1997 全国组织机构代码编制规则 (MOD 11, weights 3 7 9 10 5 8 4 2)",
    ),
    DocumentType(
        "business_licence", "营业执照", "business licence registration number", "organisation",
        "invalid_business_licence", (6, 3), embeds_birth=False, checked=True,
        pattern=re.compile(r"[0-9]{15}|[0-9A-HJ-NPQRTUWXY]{18}"), check=_business_licence_or_uscc,
        source="GS 15-2006 工商行政管理市场主体注册号编制规则 (ISO 7064 MOD 11,10, GB/T 17710); "
               "the USCC since 2015",
    ),
    DocumentType(
        "military_officer", "军官证", "military identity card (officer, soldier, civilian staff)",
        "individual", "invalid_military_officer", (1, 3), embeds_birth=False, checked=True,
        pattern=_SERVICE_CARD, remove=_BLANKS,
        source="no published numbering standard; sanity pattern (CJK prefix, 字第/第, 6-12 digits, 号)",
    ),
    DocumentType(
        "police_officer", "警官证", "police officer's identity card", "individual", "invalid_police_officer",
        (1, 3), embeds_birth=False, checked=True, pattern=_SERVICE_CARD, remove=_BLANKS,
        source="no published numbering standard; sanity pattern, as military_officer",
    ),
    DocumentType(
        "other", "其他证件", "other document", "individual", "invalid_other_document", (1, 1),
        embeds_birth=False, checked=False, pattern=_OTHER, remove=_BLANKS,
        source="none: 4-32 letters/digits/CJK or ()-/, at least one digit",
    ),
)

DOCUMENT_TYPES: dict[str, DocumentType] = {t.code: t for t in _TYPES}


def document_type(code: str) -> DocumentType:
    """The document type for a canonical code; ``KeyError`` (naming the known codes) otherwise."""
    try:
        return DOCUMENT_TYPES[code]
    except (KeyError, TypeError):
        raise KeyError(f"unknown document type code; known: {', '.join(DOCUMENT_TYPES)}") from None


# --------------------------------------------------------------------------------------------------
# Spellings a branch writes for the types (ASCII keys lower-cased). Numeric codes (01, 10 …) differ by
# bank and belong in the contract. Left out on purpose: 居住证 alone (the mainland 居住证 carries a resident
# ID number), 绿卡 (also names foreign green cards), 港澳台通行证 (could be any of three permits).
# --------------------------------------------------------------------------------------------------

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "resident_id": ("身份证", "居民身份证", "二代身份证", "第二代居民身份证", "中华人民共和国居民身份证",
                    "临时身份证", "临时居民身份证", "户口簿", "户口本", "居民户口簿", "公民身份号码",
                    "id card"),
    "residence_permit": ("港澳台居民居住证", "港澳居民居住证", "台湾居民居住证"),
    "foreign_permanent_resident": ("外国人永久居留证", "外国人永久居留身份证", "永久居留身份证", "永居证"),
    "passport": ("护照", "中国护照", "外国护照", "中华人民共和国护照", "普通护照", "因私护照", "因公护照",
                 "外交护照", "公务护照"),
    "hk_macau_permit": ("回乡证", "港澳居民来往内地通行证", "港澳同胞回乡证", "港澳居民往来内地通行证",
                        "home return permit"),
    "taiwan_permit": ("台胞证", "台湾居民来往大陆通行证", "台湾同胞来往大陆通行证", "台湾居民来往内地通行证"),
    "mainland_travel_permit_hk_macau": ("往来港澳通行证", "港澳通行证", "大陆居民往来港澳通行证",
                                        "中华人民共和国往来港澳通行证"),
    "uscc": ("统一社会信用代码", "统一社会信用代码证", "社会信用代码", "统一代码"),
    "organisation_code": ("组织机构代码", "组织机构代码证", "机构代码"),
    "business_licence": ("营业执照", "营业执照注册号", "工商注册号", "工商营业执照", "business license"),
    "military_officer": ("军官证", "士兵证", "文职干部证", "军人身份证", "军人身份证件", "军人证",
                         "武警证", "武警身份证", "武警军官证", "武警士兵证", "军官退休证",
                         "文职干部退休证", "军事学员证"),
    "police_officer": ("警官证", "人民警察证", "警察证"),
}
# 其他证件 ("another document") is not in the default spellings: a number of no known type cannot be checked,
# so by default it is unknown_document_type (a reason, not a pass). A contract that accepts such documents
# maps its code to ``other`` itself (codes: {"99": other}), and gets the sanity check only.


def _label_key(label: str) -> str:
    key = label.translate(HALFWIDTH).strip()
    return key.lower() if key.isascii() else key


LABELS: dict[str, str] = {
    _label_key(spelling): code
    for code, spellings in _SPELLINGS.items()
    for spelling in (code, DOCUMENT_TYPES[code].label_zh, DOCUMENT_TYPES[code].label_en, *spellings)
} | {"other": "other"}  # the code itself, for a contract's codes

# Reason texts for the new codes, to merge into handover.reasons.REASONS (invalid_resident_id, invalid_uscc
# and id_scientific_notation are there already).
REASONS: dict[str, tuple[str, str]] = {
    "invalid_passport": ("护照号码格式无效", "passport number is not 5-17 letters and digits"),
    "invalid_hk_macau_permit": ("港澳居民来往内地通行证号码无效",
                                "home-return permit number is not H or M + 8 or 10 digits"),
    "invalid_taiwan_permit": ("台湾居民来往大陆通行证号码无效",
                              "Taiwan resident's mainland travel permit number is not 8 or 10 digits"),
    "invalid_mainland_travel_permit_hk_macau": ("往来港澳通行证号码无效",
                                                "exit-entry permit for Hong Kong and Macao: not C or W + 8"),
    "invalid_residence_permit": ("港澳台居民居住证号码校验失败（地址码、出生日期或校验码）",
                                 "residence permit number is not 810000/820000/830000 + GB 11643"),
    "invalid_foreign_permanent_resident": ("外国人永久居留身份证号码校验失败",
                                           "permanent resident ID number fails its format or check digit"),
    "invalid_organisation_code": ("组织机构代码校验失败", "organisation code fails GB 11714"),
    "invalid_business_licence": ("营业执照注册号校验失败", "business registration number fails GS 15-2006"),
    "invalid_military_officer": ("军官证/士兵证号码格式不合理",
                                 "military ID card number does not look like one"),
    "invalid_police_officer": ("警官证号码格式不合理", "police ID card number does not look like one"),
    "invalid_other_document": ("其他证件号码格式不合理（4-32位字母数字，含数字）",
                               "other document number is not 4-32 letters/digits with a digit"),
    "unknown_document_type": ("证件类型未知或为空，无法校验证件号码",
                              "document type missing or unknown: the ID number cannot be checked"),
}


def uscc_organisation_code(uscc: str) -> str | None:
    """Characters 9–17 of a valid USCC: the organisation code GB 32100 embeds (for bodies registered
    before 2015 their GB 11714 code; newer ones got one with the USCC). None if ``uscc`` is invalid."""
    return uscc[8:17] if is_uscc(uscc) else None


# --------------------------------------------------------------------------------------------------
# Whole columns: once per distinct (type, number) pair
# --------------------------------------------------------------------------------------------------


def _generic(value: str) -> str:
    """Cleaning for a number whose type is missing or unknown: inner blanks out, upper case."""
    return value if _scientific(value) else _BLANKS.sub("", value).upper()


def _pre_clean(value: object) -> str | None:
    """Half-width, edges stripped; empty → None. Non-text cells (a reader's ints) are spelled as text."""
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        text = text.translate(HALFWIDTH).strip().strip(_INVISIBLE).strip()
    return text.strip() or None


def _as_series(values: pd.Series | Iterable) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)


def _distinct(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _assess(numbers: pd.Series, types: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the index of its distinct (type, number) pair; per pair, the normalised number and the
    reason (None where valid or missing)."""
    if len(numbers) != len(types):
        raise ValueError(f"numbers and types differ in length ({len(numbers)} and {len(types)} rows)")
    number_codes, number_values = _distinct(numbers)
    type_codes, type_values = _distinct(types)
    width = len(number_values) + 1
    pair_of_row, pair_keys = pd.factorize((type_codes + 1) * width + (number_codes + 1))
    pair_type, pair_number = pair_keys // width - 1, pair_keys % width - 1
    cleaned = [_pre_clean(v) for v in number_values]

    normalised = np.full(len(pair_keys), None, dtype=object)
    reasons = np.full(len(pair_keys), None, dtype=object)
    for t in np.unique(pair_type):
        pairs = np.flatnonzero(pair_type == t)
        code = type_values[t] if t >= 0 else None
        doc = DOCUMENT_TYPES.get(code) if isinstance(code, str) else None
        numbered = [(p, cleaned[n]) for p, n in zip(pairs, pair_number[pairs], strict=True)
                    if n >= 0 and cleaned[n] is not None]
        if not numbered:
            continue
        where = np.array([p for p, _ in numbered], dtype=np.int64)
        values = [doc.normalise(v) if doc else _generic(v) for _, v in numbered]
        normalised[where] = np.array(values, dtype=object)
        reasons[where] = np.array(_reasons(doc, values), dtype=object)
    return pair_of_row, normalised, reasons


def _reasons(doc: DocumentType | None, values: list[str]) -> list[str | None]:
    valid = doc.valid_many(values) if doc else np.zeros(len(values), dtype=bool)
    out: list[str | None] = []
    for value, ok in zip(values, valid.tolist(), strict=True):
        if ok and doc.checked:
            out.append(None)
            continue
        scientific = _scientific(value) and not is_uscc(value)
        if ok and not scientific:
            out.append(None)
        elif scientific:
            out.append("id_scientific_notation")  # the digits are lost whatever the type says
        else:
            out.append(doc.reason if doc else "unknown_document_type")
    return out


def normalise_numbers(numbers: pd.Series, types: pd.Series) -> pd.Series:
    """Each number in its type's canonical spelling (object Series, same index; None where missing). A number
    whose type is missing or unknown is only cleaned generically (inner blanks out, upper case)."""
    numbers, types = _as_series(numbers), _as_series(types)
    pair_of_row, normalised, _ = _assess(numbers, types)
    return pd.Series(normalised[pair_of_row], index=numbers.index, name=numbers.name, dtype=object)


def valid_numbers(numbers: pd.Series, types: pd.Series) -> np.ndarray:
    """Per row: True where the number is missing, or its type is known and the (normalised) number valid for
    it; False where a number is present under a missing or unknown type, and for scientific notation."""
    numbers, types = _as_series(numbers), _as_series(types)
    pair_of_row, _, reasons = _assess(numbers, types)
    ok = np.fromiter((r is None for r in reasons), dtype=bool, count=len(reasons))
    return ok[pair_of_row]


def reasons_for(numbers: pd.Series, types: pd.Series) -> list[str | None]:
    """Per row, the reason code of an invalid number (None where valid or missing): the type's reason,
    ``unknown_document_type`` for a number under a missing or unknown type, ``id_scientific_notation``
    for Excel's damage under any type."""
    numbers, types = _as_series(numbers), _as_series(types)
    pair_of_row, _, reasons = _assess(numbers, types)
    return reasons[pair_of_row].tolist()


def document_codes(labels: pd.Series) -> pd.Series:
    """The canonical code for each spelling in :data:`LABELS` (object Series, same index); None where the
    spelling is unknown or missing. Numeric bank codes are for the contract to map."""
    labels = _as_series(labels)
    codes, uniques = _distinct(labels)
    mapped = np.array([LABELS.get(_label_key(v)) if isinstance(v, str) else None for v in uniques] + [None],
                      dtype=object)
    return pd.Series(mapped[codes], index=labels.index, name=labels.name, dtype=object)


def spelled(value: str) -> str | None:
    """A number given without its type (an erasure request, a lookup) spelled as the vault stores it: as the
    first checked type it is valid for spells it, else cleaned generically; None when it is empty."""
    text = _pre_clean(value)
    if text is None:
        return None
    for doc in DOCUMENT_TYPES.values():
        if doc.checked:
            candidate = doc.normalise(text)
            if doc.is_valid(candidate):
                return candidate
    return _generic(text)
