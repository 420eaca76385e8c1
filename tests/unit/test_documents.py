"""Identity-document numbers by type (handover.documents): tables of (type, value, expected), Presidio style.

Check characters are computed here by small implementations of the standards written independently of the
module under test, or taken from published examples (named where they appear).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from handover import documents as d
from handover import masks
from handover.reasons import REASONS as EXISTING_REASONS

# --------------------------------------------------------------------------------------------------
# Independent check-character implementations
# --------------------------------------------------------------------------------------------------


def gb11643(body17: str) -> str:
    """GB 11643-1999: weights 2^(i-1) mod 11 counted from the right (check char at i=1), MOD 11-2."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body17))
    return "10X98765432"[total % 11]


def gb32100(body17: str) -> str:
    """GB 32100-2015: 31-character alphabet, weights 3^(i-1) mod 31, check = 31 - (sum mod 31)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(body17))
    return alphabet[(31 - total % 31) % 31]


def icao(body: str) -> str:
    """ICAO 9303: 7-3-1 weights, 0-9 and A=10 … Z=35, mod 10."""
    return str(sum(int(c, 36) * (7, 3, 1)[i % 3] for i, c in enumerate(body)) % 10)


def gb11714(body8: str) -> str:
    """GB 11714-1997: weights 3 7 9 10 5 8 4 2, C9 = 11 - (sum mod 11), 10 → X, 11 → 0."""
    c9 = 11 - sum(int(c, 36) * w for c, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def mod_11_10_valid(number: str) -> bool:
    """ISO 7064 MOD 11,10 (GB/T 17710) as a validity test over all digits: S_j = P_j + a_j,
    P_(j+1) = ((S_j mod 10) or 10) * 2 mod 11, P_1 = 10; valid when S_n mod 10 = 1."""
    p = 10
    for j, c in enumerate(number):
        s = p + int(c)
        if j == len(number) - 1:
            return s % 10 == 1
        p = (s % 10 or 10) * 2 % 11
    return False


def gs15(body14: str) -> str:
    """The GS 15-2006 check digit: the one digit that makes the number valid."""
    (digit,) = [c for c in "0123456789" if mod_11_10_valid(body14 + c)]
    return digit


def rid(body17: str) -> str:
    return body17 + gb11643(body17)


def fpr15(body14: str) -> str:
    return body14 + icao(body14)


def org(body8: str) -> str:
    return body8 + gb11714(body8)


def licence(body14: str) -> str:
    return body14 + gs15(body14)


def test_independent_implementations_agree_with_published_examples():
    assert gb11643("11010519491231002") == "X"  # GB 11643-1999 example
    assert gb32100("91350100M000100Y4") == "3"  # GB 32100-2015 example 91350100M000100Y43
    assert gb11714("D2143569") == "X"  # GB 11714-1997 example D2143569-X
    assert mod_11_10_valid("110108000000016")  # GS 15-2006 example
    assert icao("L898902C") == "3"  # ICAO 9303 part 4 specimen document number L898902C3
    assert icao("KAZ11009012310") == "5"  # credentialkit's 2004-card specimen KAZ110090123105


# A real-checksum USCC whose letters make it read as digits-E-digits (scientific notation).
USCC_LOOKS_SCIENTIFIC = "913100000E1234504" + gb32100("913100000E1234504")
THIS_YEAR = dt.date.today().year

# --------------------------------------------------------------------------------------------------
# Per type: (value as written, valid?)
# --------------------------------------------------------------------------------------------------

CASES: list[tuple[str, str, bool]] = [
    # resident ID (GB 11643)
    ("resident_id", "11010519491231002X", True),
    ("resident_id", "11010519491231002x", True),  # lower-case x normalises
    ("resident_id", "110105 19491231 002X", True),
    ("resident_id", "110105-19491231-002X", True),
    ("resident_id", "440301200002291237", True),  # 2000-02-29
    ("resident_id", rid("11010519000101001"), True),
    ("resident_id", "110105194912310021", False),  # check char changed
    ("resident_id", "11010519491231002", False),  # 17 characters
    ("resident_id", "110105491231002", False),  # first-generation 15 digits
    ("resident_id", rid("11010519490230002"), False),  # 1949-02-30
    ("resident_id", rid("99010519491231002"), False),  # no province 99
    ("resident_id", rid(f"110105{THIS_YEAR + 1}0101002"), False),  # born next year
    ("resident_id", "91350100M000100Y43", False),  # a USCC
    # residence permits of Hong Kong, Macao and Taiwan residents
    ("residence_permit", "810000199408230021", True),  # published specimens (guanguans/id-validator)
    ("residence_permit", "830000199201300022", True),
    ("residence_permit", rid("82000019900615002"), True),
    ("residence_permit", rid("83000020000229003"), True),  # 2000-02-29
    ("residence_permit", "810000 19940823 0021", True),
    ("residence_permit", "11010519491231002X", False),  # a mainland ID: wrong prefix
    ("residence_permit", rid("81010019800101001"), False),  # 810100, not 810000
    ("residence_permit", rid("71000019800101001"), False),  # 71 is not a permit prefix
    ("residence_permit", rid("81000019800230001"), False),  # 1980-02-30
    ("residence_permit", "810000199408230022", False),  # check char
    # foreign permanent resident ID (2004/2017: 3 letters + 12 digits; 2023: 18 digits from 9)
    ("foreign_permanent_resident", "KAZ110090123105", True),  # credentialkit specimen
    ("foreign_permanent_resident", "kaz110090123105", True),
    ("foreign_permanent_resident", fpr15("USA3101850101" + "1"), True),
    ("foreign_permanent_resident", fpr15("GBR4403000229" + "2"), True),  # 2000-02-29
    ("foreign_permanent_resident", "911398199012310021", True),  # credentialkit specimen (Beijing, 398)
    ("foreign_permanent_resident", rid("94484019850101001"), True),  # Guangdong, USA 840
    ("foreign_permanent_resident", "KAZ110090123107", True),  # no published check rule: the shape and birth date
    ("foreign_permanent_resident", fpr15("KAZ9900901231" + "0"), False),  # no province 99
    ("foreign_permanent_resident", fpr15("KAZ8100901231" + "0"), False),  # 81: not a mainland office
    ("foreign_permanent_resident", fpr15("KAZ1100900231" + "0"), False),  # 02-31
    ("foreign_permanent_resident", "KA1110090123105", False),  # two letters
    ("foreign_permanent_resident", "911398199012310022", False),  # check char
    ("foreign_permanent_resident", rid("99939819901231002"), False),  # province 99
    ("foreign_permanent_resident", rid("91139819900231002"), False),  # 1990-02-31
    ("foreign_permanent_resident", rid(f"911398{THIS_YEAR + 1}0101002"), False),  # future
    ("foreign_permanent_resident", "11010519491231002X", False),  # a resident ID does not start with 9
    # passports: PRC formats and foreign ones (5-17 letters/digits, at least one digit)
    ("passport", "E12345678", True),
    ("passport", "EA1234567", True),
    ("passport", "G12345678", True),
    ("passport", "DE1234567", True),
    ("passport", "e 1234 5678", True),
    ("passport", "E-1234-5678", True),
    ("passport", "123456789", True),  # e.g. a US passport
    ("passport", "X1234", True),
    ("passport", "A1234567890123456", True),  # 17
    ("passport", "ABCDEFGH", False),  # no digit
    ("passport", "E123", False),  # 4
    ("passport", "A12345678901234567", False),  # 18
    ("passport", "E1234567/8", False),
    ("passport", "护照E12345678", False),
    # Hong Kong / Macao residents' mainland travel permit (回乡证)
    ("hk_macau_permit", "H12345678", True),
    ("hk_macau_permit", "M12345678", True),
    ("hk_macau_permit", "H1234567801", True),  # booklet: 8 + 2-digit issue count
    ("hk_macau_permit", "h 1234 5678", True),
    ("hk_macau_permit", "H1234567", False),
    ("hk_macau_permit", "H123456789", False),  # 9 digits
    ("hk_macau_permit", "K12345678", False),
    ("hk_macau_permit", "HA2345678", False),
    ("hk_macau_permit", "H123456780123", False),
    # Taiwan residents' mainland travel permit (台胞证)
    ("taiwan_permit", "12345678", True),
    ("taiwan_permit", "0561682001(D)", True),  # booklet specimen: lifelong number, issue 01, Macao office
    ("taiwan_permit", "0561682001（d）", True),  # full-width brackets, lower case
    ("taiwan_permit", "05616820 01 (B)", True),
    ("taiwan_permit", "0561682001", True),  # Fujian/Jiangsu/Shanghai from 2006: no suffix
    ("taiwan_permit", "1234567", False),
    ("taiwan_permit", "123456789", False),
    ("taiwan_permit", "0561682001(DD)", False),
    ("taiwan_permit", "0561682001()", False),
    ("taiwan_permit", "A1234567", False),
    # mainland residents' exit-entry permit to Hong Kong and Macao (往来港澳通行证)
    ("mainland_travel_permit_hk_macau", "C12345678", True),
    ("mainland_travel_permit_hk_macau", "CA1234567", True),
    ("mainland_travel_permit_hk_macau", "W12345678", True),
    ("mainland_travel_permit_hk_macau", "c1234 5678", True),
    ("mainland_travel_permit_hk_macau", "CI1234567", False),  # no I
    ("mainland_travel_permit_hk_macau", "C1234567", False),
    ("mainland_travel_permit_hk_macau", "CAB123456", False),
    ("mainland_travel_permit_hk_macau", "W1234567A", False),
    ("mainland_travel_permit_hk_macau", "H12345678", False),  # a 回乡证 number
    # unified social credit code (GB 32100)
    ("uscc", "91350100M000100Y43", True),  # GB 32100-2015 example
    ("uscc", "91110000600037341L", True),
    ("uscc", "91310110666007217T", True),  # hutool test vector
    ("uscc", "91350100m000100y43", True),
    ("uscc", "9135 0100 M000 100Y 43", True),
    ("uscc", USCC_LOOKS_SCIENTIFIC, True),
    ("uscc", "91350100M000100Y44", False),
    ("uscc", "91350100M000100I43", False),  # I is not in the alphabet
    ("uscc", "91350100M000100Y4", False),
    # organisation code (GB 11714)
    ("organisation_code", "D2143569-X", True),  # GB 11714-1997 example
    ("organisation_code", "D2143569X", True),
    ("organisation_code", "d2143569-x", True),
    ("organisation_code", "M000100Y4", True),  # the one inside 91350100M000100Y43
    ("organisation_code", org("12345678"), True),
    ("organisation_code", org("A0000001"), True),
    ("organisation_code", "D2143569-1", False),
    ("organisation_code", "D2143569", False),
    ("organisation_code", "D2143569-XX", False),
    ("organisation_code", "D214356#-X", False),
    # business licence registration number (GS 15-2006) or the USCC a licence carries since 2015
    ("business_licence", "110108000000016", True),  # GS 15-2006 example
    ("business_licence", "410000100015088", True),  # published test vectors (wbximy reg_number)
    ("business_licence", "410000100015096", True),
    ("business_licence", licence("44030010000001"), True),
    ("business_licence", licence("10000000000001"), True),  # 100000: the State Administration
    ("business_licence", "110108 000000016", True),
    ("business_licence", "91350100M000100Y43", True),
    ("business_licence", "110108000000017", False),
    ("business_licence", "11010800000001", False),
    ("business_licence", licence("99010800000001"), False),  # no province 99
    ("business_licence", "14010700A001338", False),  # a Shanxi-only letter form GS 15 does not have
    # military and police cards: sanity patterns only
    ("military_officer", "南字第12345678号", True),
    ("military_officer", "军字第1234号", True),
    ("military_officer", "南字第 12345678 号", True),
    ("military_officer", "第123456号", True),
    ("military_officer", "12345678", True),
    ("military_officer", "军官证", False),
    ("military_officer", "12345", False),
    ("military_officer", "南字第123号", False),
    ("military_officer", "1234567890123", False),
    ("police_officer", "京公字第123456号", True),
    ("police_officer", "123456", True),
    ("police_officer", "警官证", False),
    ("police_officer", "12345", False),
    # anything else: 4-32 letters/digits/CJK or ()-/, with a digit
    ("other", "A1234(5)", True),
    ("other", "AB-1234", True),
    ("other", "学生证2024001", True),
    ("other", "ab 12 34", True),
    ("other", "NULL", False),
    ("other", "无", False),
    ("other", "A12", False),
    ("other", "1" * 33, False),
    ("other", "A1\x00234", False),
    ("other", "A1_234", False),
]


@pytest.mark.parametrize(("code", "value", "expected"), CASES)
def test_number_is_valid_for_its_type(code: str, value: str, expected: bool):
    doc = d.document_type(code)
    assert doc.is_valid(doc.normalise(value)) is expected
    row = (pd.Series([value], dtype=object), pd.Series([code], dtype=object))
    assert d.valid_numbers(*row).tolist() == [expected]
    assert d.reasons_for(*row) == [None if expected else doc.reason]


@pytest.mark.parametrize(("code", "value", "expected"), CASES)
def test_normalising_twice_changes_nothing(code: str, value: str, expected: bool):
    doc = d.document_type(code)
    once = doc.normalise(value)
    assert doc.normalise(once) == once


@pytest.mark.parametrize(("code", "value", "normalised"), [
    ("resident_id", "110105 19491231 002x", "11010519491231002X"),
    ("organisation_code", "d2143569-x", "D2143569X"),
    ("taiwan_permit", "0561682001（d）", "0561682001(D)"),
    ("taiwan_permit", "0561682001【B】", "0561682001(B)"),
    ("passport", "e-1234 5678", "E12345678"),
    ("uscc", "9135 0100 m000 100y 43", "91350100M000100Y43"),
    ("military_officer", "南字第 12345678 号", "南字第12345678号"),
    ("other", "a1234 (5)", "A1234(5)"),
    ("other", "AB-1234", "AB-1234"),  # the unknown format may have dashes: kept
])
def test_normalise_gives_the_canonical_spelling(code, value, normalised):
    assert d.document_type(code).normalise(value) == normalised


def test_is_chinese_passport_knows_the_prc_and_sar_formats():
    assert all(map(d.is_chinese_passport, ["E12345678", "EA1234567", "G12345678", "DE1234567", "SE1234567",
                                           "PE1234567", "K12345678", "MA1234567"]))
    assert not any(map(d.is_chinese_passport, ["EI1234567", "E1234567", "123456789", "AB1234567", None]))


# --------------------------------------------------------------------------------------------------
# Scientific notation
# --------------------------------------------------------------------------------------------------

SCIENTIFIC = ["4.40106E+17", "4.40106e+17", "1.1E+17", "4.4E17", "9.1350100E+17"]


@pytest.mark.parametrize("code", [*d.DOCUMENT_TYPES, None, "bogus"])
@pytest.mark.parametrize("value", SCIENTIFIC)
def test_scientific_notation_is_never_valid_under_any_type(code, value):
    row = (pd.Series([value], dtype=object), pd.Series([code], dtype=object))
    assert d.valid_numbers(*row).tolist() == [False]
    assert d.reasons_for(*row) == ["id_scientific_notation"]
    assert d.normalise_numbers(*row).tolist() == [value]  # left as written, never "repaired"


def test_a_valid_uscc_that_reads_like_scientific_notation_is_a_uscc():
    value = USCC_LOOKS_SCIENTIFIC
    assert re.match(r"^\d+E\d+", value) and re.fullmatch(r"^\d+\.?\d*E[+-]?\d+$", value)
    assert gb32100(value[:17]) == value[17]
    numbers = pd.Series([value] * 4, dtype=object)
    types = pd.Series(["uscc", "business_licence", "resident_id", None], dtype=object)
    assert d.valid_numbers(numbers, types).tolist() == [True, True, False, False]
    # the wrong type or no type is said as such: the value is not Excel damage
    assert d.reasons_for(numbers, types) == [None, None, "invalid_resident_id", "unknown_document_type"]
    assert d.document_type("uscc").normalise(value.lower()) == value


def test_a_number_valid_for_its_type_is_not_taken_for_scientific_notation():
    # an organisation code and a foreign passport that happen to read as digits-E-digits
    code = org("1234E568")
    assert re.fullmatch(r"\d+E\d+", code)
    numbers = pd.Series([code, "12E45678", "12E45678"], dtype=object)
    types = pd.Series(["organisation_code", "passport", "other"], dtype=object)
    # "other" has no format to be valid for: there, the exponent wins
    assert d.reasons_for(numbers, types) == [None, None, "id_scientific_notation"]


# --------------------------------------------------------------------------------------------------
# Unknown and missing
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [None, np.nan, "bogus", "", "RESIDENT_ID", "身份证", 1])
def test_a_number_under_an_unknown_or_missing_type_cannot_be_checked(code):
    numbers = pd.Series(["11010519491231002x", None], dtype=object)
    types = pd.Series([code, code], dtype=object)
    assert d.valid_numbers(numbers, types).tolist() == [False, True]
    assert d.reasons_for(numbers, types) == ["unknown_document_type", None]
    assert d.normalise_numbers(numbers, types).tolist() == ["11010519491231002X", None]


@pytest.mark.parametrize("missing", [None, np.nan, "", "  ", "\u3000"])
def test_a_missing_number_is_valid_whatever_the_type(missing):
    numbers = pd.Series([missing] * 3, dtype=object)
    types = pd.Series(["resident_id", None, "bogus"], dtype=object)
    assert d.valid_numbers(numbers, types).tolist() == [True, True, True]
    assert d.reasons_for(numbers, types) == [None, None, None]
    assert d.normalise_numbers(numbers, types).tolist() == [None, None, None]


def test_document_type_raises_key_error_for_an_unknown_code():
    with pytest.raises(KeyError):
        d.document_type("bogus")
    assert d.document_type("passport").code == "passport"


# --------------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------------


def test_normalise_numbers_cleans_each_row_by_its_type_and_keeps_the_index():
    numbers = pd.Series(["１１０１０５１９４９１２３１００２ｘ", " d2143569-x ", "a b-c", None, "e1234 5678"],
                        index=[10, 11, 12, 13, 14], name="id_number", dtype=object)
    types = pd.Series(["resident_id", "organisation_code", None, "passport", "passport"],
                      index=[10, 11, 12, 13, 14], dtype=object)
    got = d.normalise_numbers(numbers, types)
    assert got.index.tolist() == [10, 11, 12, 13, 14] and got.name == "id_number"
    assert got.tolist() == ["11010519491231002X", "D2143569X", "AB-C", None, "E12345678"]


def test_arrow_backed_text_columns_give_the_same_answers():
    numbers = pd.Series(["11010519491231002X", "H12345678", None, "4.40106E+17"])
    types = pd.Series(["resident_id", "hk_macau_permit", "passport", None])
    arrow = (numbers.astype("string[pyarrow]"), types.astype("string[pyarrow]"))
    expected = [None, None, None, "id_scientific_notation"]
    assert d.reasons_for(*arrow) == d.reasons_for(numbers, types) == expected


def test_non_text_cells_are_read_as_their_text():
    numbers = pd.Series([12345678, 4.40106e17], dtype=object)
    types = pd.Series(["taiwan_permit", "resident_id"], dtype=object)
    assert d.reasons_for(numbers, types) == [None, "id_scientific_notation"]


def test_a_chunk_of_100000_rows_with_repeats_is_right_and_fast():
    rng = random.Random(20240105)
    pool = [(code, value) for code, value, _ in CASES] + [(None, "11010519491231002X"), ("bogus", "X1"),
                                                           ("resident_id", None), ("passport", "4.40106E+17")]
    expected = {}
    for code, value in pool:
        doc = d.DOCUMENT_TYPES.get(code) if isinstance(code, str) else None
        if value is None:
            expected[code, value] = None
        elif value in SCIENTIFIC or value == "4.40106E+17":
            expected[code, value] = "id_scientific_notation"
        elif doc is None:
            expected[code, value] = "unknown_document_type"
        else:
            expected[code, value] = None if doc.is_valid(doc.normalise(value)) else doc.reason
    rows = [rng.choice(pool) for _ in range(100_000)]
    types = pd.Series([c for c, _ in rows], dtype=object)
    numbers = pd.Series([v for _, v in rows], dtype=object)

    started = time.process_time()  # CPU time: what the code costs, not how busy the machine is
    valid = d.valid_numbers(numbers, types)
    reasons = d.reasons_for(numbers, types)
    normalised = d.normalise_numbers(numbers, types)
    elapsed = time.process_time() - started

    want = [expected[row] for row in rows]
    assert reasons == want
    assert valid.dtype == bool and valid.tolist() == [r is None for r in want]
    assert len(normalised) == 100_000 and normalised[numbers.isna()].isna().all()
    assert elapsed < 1.0, f"three passes over 100,000 rows took {elapsed:.2f} s"


def test_100000_distinct_resident_ids_take_the_vectorised_rule(monkeypatch):
    rng = random.Random(7)
    bodies = {f"4403{rng.randint(1, 99):02d}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}"
              f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}" for _ in range(100_000)}
    numbers = pd.Series([rid(b) for b in bodies], dtype=object)
    types = pd.Series(["resident_id"] * len(numbers), dtype=object)
    # the vectorised rule, not a Python check per value: counted, not timed (a busy machine has no say)
    calls = []
    one_by_one = d.DocumentType.is_valid
    monkeypatch.setattr(d.DocumentType, "is_valid", lambda self, v: calls.append(v) or one_by_one(self, v))
    assert d.valid_numbers(numbers, types).all()
    assert len(calls) == 0, f"{len(calls):,} of {len(numbers):,} numbers checked one by one"
    assert d.DOCUMENT_TYPES["resident_id"].bulk is not None


def test_numbers_and_types_of_different_lengths_are_refused_without_values():
    with pytest.raises(ValueError) as info:
        d.valid_numbers(pd.Series(["11010519491231002X"]), pd.Series(["resident_id", "passport"]))
    assert "11010519491231002X" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# Labels, reasons, the types' data
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "code"), [
    ("身份证", "resident_id"), ("居民身份证", "resident_id"), ("二代身份证", "resident_id"),
    ("临时身份证", "resident_id"), ("户口簿", "resident_id"), ("户口本", "resident_id"),
    ("护照", "passport"), ("中国护照", "passport"), ("外国护照", "passport"),
    ("回乡证", "hk_macau_permit"), ("港澳居民来往内地通行证", "hk_macau_permit"),
    ("港澳通行证", "mainland_travel_permit_hk_macau"), ("往来港澳通行证", "mainland_travel_permit_hk_macau"),
    ("台胞证", "taiwan_permit"), ("台湾居民来往大陆通行证", "taiwan_permit"),
    ("港澳台居民居住证", "residence_permit"),
    ("外国人永久居留证", "foreign_permanent_resident"),
    ("外国人永久居留身份证", "foreign_permanent_resident"),
    ("统一社会信用代码", "uscc"), ("营业执照", "business_licence"), ("组织机构代码", "organisation_code"),
    ("组织机构代码证", "organisation_code"), ("军官证", "military_officer"), ("士兵证", "military_officer"),
    ("警官证", "police_officer"),
])
def test_labels_map_the_usual_spellings(label, code):
    assert d.LABELS[label] == code


def test_another_document_is_unknown_unless_a_contract_says_so():
    """其他证件 names no type whose number can be checked: by default it is a reason, not a pass."""
    assert "其他证件" not in d.LABELS and "其他" not in d.LABELS and d.LABELS["other"] == "other"


def test_labels_hold_the_codes_lower_case_ascii_and_no_bank_numbers():
    assert all(d.LABELS[code] == code for code in d.DOCUMENT_TYPES)
    assert set(d.LABELS.values()) <= set(d.DOCUMENT_TYPES)
    assert all(key == key.lower() for key in d.LABELS if key.isascii())
    assert not any(key.isdigit() for key in d.LABELS)
    assert "居住证" not in d.LABELS  # the mainland 居住证 carries a resident ID number


def test_document_codes_resolves_spellings_in_a_column():
    labels = pd.Series([" 身份证 ", "PASSPORT", "ｐａｓｓｐｏｒｔ", "01", None, "港澳通行证"],
                       index=list("abcdef"))
    got = d.document_codes(labels)
    assert got.index.tolist() == list("abcdef")
    assert got.tolist() == ["resident_id", "passport", "passport", None, None,
                            "mainland_travel_permit_hk_macau"]


def test_every_reason_code_has_a_text_in_the_one_list():
    assert {doc.reason for doc in d.DOCUMENT_TYPES.values()} | {"unknown_document_type",
                                                                "id_scientific_notation"} <= set(EXISTING_REASONS)
    assert all(EXISTING_REASONS[code] == text for code, text in d.REASONS.items())
    named = [doc for doc in d.DOCUMENT_TYPES.values() if doc.code != "other"]
    assert all(doc.reason == f"invalid_{doc.code}" for doc in named)
    assert d.document_type("other").reason == "invalid_other_document"
    for zh, en in d.REASONS.values():
        assert re.search(r"[\u4e00-\u9fff]", zh) and en.isascii()


def test_the_types_declare_holder_mask_and_checking():
    for doc in d.DOCUMENT_TYPES.values():
        assert doc.holder in {"individual", "organisation"}
        assert len(doc.mask_keep) == 2 and all(isinstance(k, int) and k >= 0 for k in doc.mask_keep)
        assert doc.checked is (doc.code != "other")
        assert doc.label_zh and doc.label_en and doc.source
    assert {c for c, doc in d.DOCUMENT_TYPES.items() if doc.holder == "organisation"} == {
        "uscc", "organisation_code", "business_licence"}
    # the two whose numbers follow GB 11643 with a province address code
    embedding = {c for c, doc in d.DOCUMENT_TYPES.items() if doc.embeds_birth}
    assert embedding == {"resident_id", "residence_permit"}


def test_mask_keep_feeds_keep_ends_and_hides_the_middle():
    doc = d.document_type("resident_id")
    assert masks.keep_ends(pa.array(["11010519491231002X"]), *doc.mask_keep)[0].as_py() == \
        masks.mask("resident_id", "11010519491231002X") == "110105********002X"
    shown = masks.keep_ends(pa.array(["H12345678"]), *d.document_type("hk_macau_permit").mask_keep)[0].as_py()
    assert shown == "H*****678"


def test_uscc_organisation_code_is_characters_9_to_17():
    assert d.uscc_organisation_code("91350100M000100Y43") == "M000100Y4"
    assert d.is_organisation_code(d.uscc_organisation_code("91350100M000100Y43"))
    assert d.uscc_organisation_code("91350100M000100Y44") is None
    assert d.uscc_organisation_code(None) is None


# --------------------------------------------------------------------------------------------------
# Check-character helpers and their errors
# --------------------------------------------------------------------------------------------------


def test_check_helpers_match_the_independent_implementations():
    for body in ["D2143569", "12345678", "A0000001", "ZZZZZZZZ", "00000000"]:
        assert d.organisation_code_check_char(body) == gb11714(body)
    for body in ["11010800000001", "41000010001508", "44030010000001", "00000000000000"]:
        assert d.business_licence_check_digit(body) == gs15(body)
    for body in ["KAZ11009012310", "L898902C", "USA31018501011"]:
        assert d.icao_check_digit(body) == icao(body)


@pytest.mark.parametrize(("call", "value"), [
    (d.organisation_code_check_char, "D214356"),
    (d.organisation_code_check_char, "d2143569"),
    (d.business_licence_check_digit, "1101080000000A"),
    (d.business_licence_check_digit, "110108000000016"),
    (d.icao_check_digit, "KAZ#1100901231"),
    (d.document_type, "11010519491231002X"),
])
def test_errors_never_carry_the_value(call, value):
    with pytest.raises((ValueError, KeyError)) as info:
        call(value)
    assert value not in str(info.value) and value not in repr(info.value)
