#!/usr/bin/env python3
"""Self-check for the held-out PII notes corpus (stdlib only).

Usage:  python check.py [-v]

Errors (exit status 1):
  * unbalanced / malformed {{LABEL|text}} markup, unknown labels
  * CUSTOMER text not in customers.tsv, PERSON text that is in customers.tsv
  * ID / CARD check characters wrong, MOBILE / LANDLINE / EMAIL / PLATE
    values that do not look like what the label says
  * fewer than 1,000 notes, distinct ratio below 95 %, a note outside
    8..220 characters (both with and without markup)
Warnings (printed, do not fail):
  * unmarked digit runs outside markup that look like a mobile, a valid
    resident ID or a Luhn-valid card number, unmarked e-mail addresses
With -v also lists every place where a customer name, or a name marked
elsewhere in the corpus, occurs unmarked (these are meant to be ordinary
words such as 高兴 / 许多 / 安静 or title-only mentions -- review them).
"""
import collections
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NOTES = os.path.join(HERE, "notes.txt")
CUSTOMERS = os.path.join(HERE, "customers.tsv")

LABELS = {"CUSTOMER", "PERSON", "MOBILE", "LANDLINE", "ID", "CARD",
          "EMAIL", "ADDRESS", "PLATE"}
SPAN = re.compile(r"\{\{([A-Z]+)\|([^{}|]+)\}\}")

# spoken / written Chinese digits as they appear in dictated notes
CN_DIGITS = {"零": "0", "〇": "0", "洞": "0",
             "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
             "四": "4", "五": "5", "六": "6", "七": "7", "拐": "7",
             "八": "8", "九": "9", "勾": "9", "叉": "X", "x": "X"}
SEPARATORS = set(" \u3000-–—·.()（）")


def to_digits(s):
    """Map Chinese digits to ASCII and drop separators."""
    out = []
    for ch in s:
        if ch in SEPARATORS:
            continue
        out.append(CN_DIGITS.get(ch, ch))
    return "".join(out)


GB_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def gb11643_ok(s):
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return False
    if s[0] not in "1234568":
        return False
    y, m, d = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if not (1900 <= y <= 2024 and 1 <= m <= 12 and 1 <= d <= 31):
        return False
    if m == 2 and d > (29 if (y % 4 == 0 and (y % 100 or y % 400 == 0)) else 28):
        return False
    if m in (4, 6, 9, 11) and d > 30:
        return False
    total = sum(int(c) * w for c, w in zip(s, GB_W))
    return "10X98765432"[total % 11] == s[17]


def luhn_ok(s):
    total = 0
    for i, c in enumerate(reversed(s)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def hkid_ok(s):
    m = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(?([0-9A])\)?", s)
    if not m:
        return False
    letters, digits, chk = m.groups()
    vals = ([36] if len(letters) == 1 else []) + [ord(c) - 55 for c in letters]
    vals += [int(c) for c in digits]
    total = sum(v * w for v, w in zip(vals, range(9, 1, -1)))
    r = 11 - total % 11
    return {10: "A", 11: "0"}.get(r, str(r)) == chk


TW_LETTERS = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36)))


def twid_ok(s):
    if not re.fullmatch(r"[A-Z][12]\d{8}", s):
        return False
    n = TW_LETTERS[s[0]]
    total = n // 10 + (n % 10) * 9
    total += sum(int(c) * w for c, w in zip(s[1:9], [8, 7, 6, 5, 4, 3, 2, 1]))
    total += int(s[9])
    return total % 10 == 0


def check_id(text):
    s = to_digits(text).upper()
    if re.fullmatch(r"\d{17}[\dX]", s):
        return gb11643_ok(s), "GB 11643 check character"
    raw = text.replace(" ", "").replace("（", "(").replace("）", ")")
    if re.fullmatch(r"[A-Z]{1,2}\d{6}\([0-9A]\)", raw):
        return hkid_ok(raw), "HKID check character"
    if re.fullmatch(r"[A-Z][12]\d{8}", s):
        return twid_ok(s), "Taiwan ID check digit"
    # formats that carry no public check character: accept on shape only
    shapes = [
        r"[1578]\d{6}\(?\d\)?",          # Macao BIR (check char not verifiable)
        r"[EG]\d{8}", r"E[A-Z]\d{7}",    # PRC passports
        r"C\d{8}", r"C[A-Z]\d{7}",       # 往来港澳通行证
        r"[HM]\d{8}(\d{2})?",            # 港澳居民来往内地通行证 (回乡证)
        r"\d{8}",                        # 台湾居民来往大陆通行证 (台胞证)
        r"[A-Z]{1,2}\d{7}",              # foreign passports
        r"[A-Z]{2}\d{6}",                # Canadian passports
        r"\d{2} ?\d{7}",                 # Russian passports
        r"[CFGHJKLMNPRTVWXYZ][0-9CFGHJKLMNPRTVWXYZ]{8}",  # German passports
    ]
    for pat in shapes:
        if re.fullmatch(pat, raw):
            return True, "shape only"
    return False, "unknown ID format"


def check_card(text):
    s = to_digits(text)
    if not re.fullmatch(r"\d{15,19}", s):
        return False, "not 15-19 digits"
    return luhn_ok(s), "Luhn digit"


def check_mobile(text):
    s = to_digits(text).replace("+", "")
    for pre in ("0086", "86"):
        if s.startswith(pre) and len(s) == 11 + len(pre):
            s = s[len(pre):]
    if re.fullmatch(r"1[3-9]\d{9}", s):
        return True, "CN"
    if re.fullmatch(r"(852|853)?[5-9]\d{7}", s):
        return True, "HK/MO"
    if re.fullmatch(r"(886)?0?9\d{8}", s):
        return True, "TW"
    if re.fullmatch(r"447\d{9}|614\d{8}|849\d{8}|1[2-9]\d{9}", s.replace(" ", "")):
        return True, "UK/AU/VN/NANP"
    return False, "not a mobile number"


def check_landline(text):
    raw = re.split(r"转|分机|分機|ext\.?|EXT\.?|x|#", text)[0].strip()
    m = re.fullmatch(r"(\(?0\d{2,3}\)?-\d{7,8})-\d{1,5}", raw)   # 0531-66781234-806
    if m:
        raw = m.group(1)
    s = to_digits(raw).replace("+", "")
    if re.fullmatch(r"(0\d{2,3})?[2-9]\d{6,7}", s):
        return True, "CN"
    if re.fullmatch(r"(852|853)?[23]\d{7}", s):
        return True, "HK/MO"
    if re.fullmatch(r"(886)?0?[2-8]\d{7,8}", s):
        return True, "TW"
    return False, "not a landline number"


EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PROV = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼粵滬魯蘇贛閩貴遼吉"


def check_plate(text):
    s = to_digits(text).upper()
    if re.fullmatch("[" + PROV + "][A-Z]([A-Z0-9]{5,6}|[A-Z0-9]{4}(港|澳))(学|挂|警)?", s):
        return True, "CN"
    raw = text.replace("·", " ").upper()
    if re.fullmatch(r"[A-Z]{1,2} ?\d{1,4}", raw):
        return True, "HK"
    if re.fullmatch(r"M[A-Z][- ]?\d{2}[- ]?\d{2}", raw):
        return True, "MO"
    if re.fullmatch(r"[A-Z]{3}-?\d{4}|\d{4}-?[A-Z]{2}", raw):
        return True, "TW"
    return False, "not a plate"


def main():
    verbose = "-v" in sys.argv
    customers = {}
    with open(CUSTOMERS, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                sys.exit(f"customers.tsv:{n}: expected name<TAB>mobile")
            if parts[0] in customers:
                sys.exit(f"customers.tsv:{n}: duplicate name {parts[0]}")
            ok, _ = check_mobile(parts[1])
            if not ok:
                sys.exit(f"customers.tsv:{n}: bad mobile {parts[1]}")
            customers[parts[0]] = parts[1]

    errors, warnings = [], []
    notes, section_of = [], {}
    per_label = collections.Counter()
    per_section = collections.Counter()
    per_section_label = collections.defaultdict(collections.Counter)
    customers_used = set()
    section = "(none)"
    unmarked_customer_hits = []
    marked_names = set()
    for raw_line in open(NOTES, encoding="utf-8"):
        if not raw_line.startswith("#"):
            for m in SPAN.finditer(raw_line):
                if m.group(1) in ("PERSON", "CUSTOMER") and len(m.group(2)) >= 2:
                    marked_names.add(m.group(2))

    with open(NOTES, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    for n, line in enumerate(lines, 1):
        where = f"notes.txt:{n}"
        if line.startswith("#"):
            section = line.lstrip("#").strip() or section
            continue
        if not line.strip():
            errors.append(f"{where}: empty line")
            continue
        notes.append(line)
        per_section[section] += 1
        rest = SPAN.sub("\x00", line)
        if "{{" in rest or "}}" in rest:
            errors.append(f"{where}: unbalanced or malformed markup")
        plain = SPAN.sub(lambda m: m.group(2), line)
        if not 8 <= len(plain) <= 220:
            errors.append(f"{where}: plain length {len(plain)} outside 8..220")
        if len(line) > 220:
            errors.append(f"{where}: raw length {len(line)} > 220")
        for m in SPAN.finditer(line):
            label, text = m.group(1), m.group(2)
            if label not in LABELS:
                errors.append(f"{where}: unknown label {label}")
                continue
            if text != text.strip():
                errors.append(f"{where}: {label} span has outer whitespace: {text!r}")
            per_label[label] += 1
            per_section_label[section][label] += 1
            ok, why = True, ""
            if label == "CUSTOMER":
                ok, why = text in customers, "not in customers.tsv"
                customers_used.add(text)
            elif label == "PERSON":
                ok, why = text not in customers, "is a customer in customers.tsv"
            elif label == "ID":
                ok, why = check_id(text)
            elif label == "CARD":
                ok, why = check_card(text)
            elif label == "MOBILE":
                ok, why = check_mobile(text)
            elif label == "LANDLINE":
                ok, why = check_landline(text)
            elif label == "EMAIL":
                spoken = re.sub(r"\s+(at|艾特)\s+", "@", text)
                spoken = re.sub(r"\s+(dot|点)\s+", ".", spoken)
                ok, why = bool(EMAIL_RE.fullmatch(spoken)), "not an e-mail address"
            elif label == "PLATE":
                ok, why = check_plate(text)
            elif label == "ADDRESS":
                ok, why = len(text) >= 4, "too short for a findable address"
            if not ok:
                errors.append(f"{where}: {label} {text!r}: {why}")

        # lint the unmarked remainder
        outside = SPAN.sub(" ", line)
        for run in re.findall(r"(?<![\dA-Za-z])\d[\d \-]{9,24}\d(?![\dA-Za-z])", outside):
            d = re.sub(r"[ \-]", "", run)
            if re.fullmatch(r"1[3-9]\d{9}", d):
                warnings.append(f"{where}: unmarked mobile-like {run!r}")
            elif len(d) == 18 and gb11643_ok(d):
                warnings.append(f"{where}: unmarked valid resident-ID-like {run!r}")
            elif 16 <= len(d) <= 19 and luhn_ok(d) and d[0] in "3456":
                warnings.append(f"{where}: unmarked Luhn-valid card-like {run!r}")
        for m in EMAIL_RE.finditer(outside):
            warnings.append(f"{where}: unmarked e-mail {m.group(0)!r}")
        if verbose:
            for name in sorted(set(customers) | marked_names):
                if len(name) >= 2 and name in outside:
                    unmarked_customer_hits.append(f"{where}: unmarked '{name}': {plain}")

    total = len(notes)
    distinct = len(set(notes))
    ratio = distinct / total if total else 0.0
    if total < 1000:
        errors.append(f"only {total} notes (< 1000)")
    if ratio < 0.95:
        errors.append(f"distinct ratio {ratio:.3f} < 0.95")

    print(f"notes: {total}   distinct: {distinct}   distinct ratio: {ratio:.4f}")
    print(f"customers in customers.tsv: {len(customers)}   used as CUSTOMER: {len(customers_used)}")
    print("labels:")
    for lab in sorted(LABELS):
        print(f"  {lab:9s} {per_label[lab]:5d}")
    print(f"  {'total':9s} {sum(per_label.values()):5d}")
    print("sections:")
    for sec, cnt in per_section.items():
        labs = ", ".join(f"{k} {v}" for k, v in sorted(per_section_label[sec].items()))
        print(f"  {cnt:4d}  {sec}\n        {labs}")
    for w in warnings:
        print("WARNING", w)
    for h in unmarked_customer_hits:
        print("INFO", h)
    for e in errors:
        print("ERROR", e)
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
