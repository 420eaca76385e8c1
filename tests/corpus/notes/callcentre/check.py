#!/usr/bin/env python3
"""Self-check for the call-centre notes corpus (stdlib only).

Checks:
  * every {{ is closed by }}, no nesting, no stray braces or '|' outside spans
  * labels are from the allowed list
  * CUSTOMER names are in customers.tsv, PERSON names are not
  * plain-text length (markup removed) 8..200, raw line length <= 200
  * IDs: 18-char resident IDs carry a correct GB 11643 check character;
    other IDs look like a passport / 回乡证 / 台胞证 number
  * CARD numbers pass Luhn and have 15..19 digits
  * MOBILE / LANDLINE / EMAIL / PLATE / ADDRESS spans have a plausible shape
  * distinct-line ratio >= 0.95, >= 900 notes, section (c) >= 300 notes
Warnings (not failures): customer / person names or number-like strings that
also occur outside any span.  In this corpus every such warning is a deliberate
negative (a name that is also an ordinary word: 方圆五公里, 早高峰, 黎明时分 ...).

Usage: python check.py [notes.txt] [customers.tsv]
"""
import re
import sys
import unicodedata
from collections import Counter, OrderedDict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = {"CUSTOMER", "PERSON", "MOBILE", "LANDLINE", "ID", "CARD",
          "EMAIL", "ADDRESS", "PLATE"}
SPAN = re.compile(r"\{\{([A-Z]+)\|([^{}|]+)\}\}")
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHK = "10X98765432"
CN_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")}
CN_DIGITS.update({c: str(i) for i, c in enumerate("〇壹贰叁肆伍陆柒捌玖")})
CN_DIGITS["幺"] = "1"
CN_DIGITS["两"] = "2"
PROVINCE_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
ADDRESS_MARKERS = "路街道号弄室栋单元小区村组巷楼座幢院里苑园庄屯"


def norm_digits(s: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    return "".join(CN_DIGITS.get(c, c) for c in s)


def id_ok(text: str) -> bool:
    t = norm_digits(text).replace(" ", "").replace("-", "").upper()
    if re.fullmatch(r"\d{17}[\dX]", t):
        return CHK[sum(int(d) * w for d, w in zip(t, W)) % 11] == t[-1]
    # passports (E/EA/G/D/P...), 回乡证 (H/M + 8 or 10 digits), 台胞证 (8 or 10 digits)
    return bool(re.fullmatch(r"(E[A-Z]?\d{7,8}|G\d{8}|[HM]\d{8}(\d{2})?|\d{8}(\d{2})?)", t))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def card_ok(text: str) -> bool:
    t = re.sub(r"[\s\-]", "", norm_digits(text))
    return t.isdigit() and 15 <= len(t) <= 19 and luhn_ok(t)


def mobile_ok(text: str) -> bool:
    t = re.sub(r"[\s\-()（）.]", "", norm_digits(text))
    t = re.sub(r"^(\+?86|0086)", "", t)
    return bool(re.fullmatch(r"1[3-9]\d{9}", t))


def landline_ok(text: str) -> bool:
    t = norm_digits(text)
    t = re.sub(r"(转|分机|ext\.?|EXT\.?|x)\s*\d{1,5}$", "", t).strip()
    t = re.sub(r"[\s()（）]", "", t)
    m = re.fullmatch(r"(?:\+?86-?)?(0\d{2,3})-?(\d{7,8})(?:-(\d{1,5}))?", t)
    if m:
        return True
    return bool(re.fullmatch(r"\d{3,4}-?\d{4}", t)) and len(re.sub(r"\D", "", t)) in (7, 8)


def plate_ok(text: str) -> bool:
    t = re.sub(r"[\s·•.\-]", "", unicodedata.normalize("NFKC", text)).upper()
    return bool(re.fullmatch(rf"[{PROVINCE_ABBR}][A-Z][A-Z0-9]{{5,6}}", t))


def email_ok(text: str) -> bool:
    return bool(re.fullmatch(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+", text))


def address_ok(text: str) -> bool:
    return any(m in text for m in ADDRESS_MARKERS)


VALIDATORS = {"ID": id_ok, "CARD": card_ok, "MOBILE": mobile_ok,
              "LANDLINE": landline_ok, "PLATE": plate_ok, "EMAIL": email_ok,
              "ADDRESS": address_ok}


def load_customers(path: Path):
    names, errors = {}, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            errors.append(f"customers.tsv:{n}: expected name<TAB>mobile")
            continue
        name, mob = parts
        if name in names:
            errors.append(f"customers.tsv:{n}: duplicate name {name}")
        if not re.fullmatch(r"1[3-9]\d{9}", mob):
            errors.append(f"customers.tsv:{n}: bad mobile {mob}")
        names[name] = mob
    if not 200 <= len(names) <= 400:
        errors.append(f"customers.tsv: {len(names)} customers, expected 200..400")
    return names, errors


def main():
    notes_path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "notes.txt"
    cust_path = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "customers.tsv"
    customers, errors = load_customers(cust_path)
    warnings = []
    labels = Counter()
    by_section = {}
    seen_persons = set()
    sections = OrderedDict()
    section = None
    notes = []
    linenos = []
    for n, raw in enumerate(notes_path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        if raw.startswith("#"):
            section = raw.lstrip("#").strip()
            sections.setdefault(section, 0)
            continue
        if section is None:
            errors.append(f"{n}: note before first section header")
            section = "?"
            sections.setdefault(section, 0)
        sections[section] += 1
        notes.append(raw)
        linenos.append(n)
        where = f"{n}"
        # structure
        stripped = SPAN.sub("", raw)
        if "{" in stripped or "}" in stripped or "|" in stripped:
            errors.append(f"{where}: unbalanced braces / stray '|': {raw}")
        plain = SPAN.sub(lambda m: m.group(2), raw)
        if not 8 <= len(plain) <= 200:
            errors.append(f"{where}: plain length {len(plain)} outside 8..200: {raw}")
        if len(raw) > 200:
            errors.append(f"{where}: raw length {len(raw)} > 200")
        for m in SPAN.finditer(raw):
            label, text = m.group(1), m.group(2)
            labels[label] += 1
            by_section.setdefault(section, Counter())[label] += 1
            if label == "PERSON":
                seen_persons.add(text)
            if label not in LABELS:
                errors.append(f"{where}: unknown label {label}")
                continue
            if text != text.strip():
                errors.append(f"{where}: span has outer whitespace: {text!r}")
            if label == "CUSTOMER" and text not in customers:
                errors.append(f"{where}: CUSTOMER {text} not in customers.tsv")
            if label == "PERSON" and text in customers:
                errors.append(f"{where}: PERSON {text} is a customer")
            v = VALIDATORS.get(label)
            if v and not v(text):
                errors.append(f"{where}: {label} fails validation: {text}")
        # warnings: things that look personal but are unmarked
        outside = SPAN.sub(" ", raw)
        for name in customers:
            if len(name) >= 2 and name in outside:
                warnings.append(f"{where}: customer name {name} appears unmarked")
        nd = norm_digits(outside)
        for m in re.finditer(r"(?<!\d)1[3-9]\d{9}(?!\d)", nd):
            warnings.append(f"{where}: unmarked mobile-like {m.group()}")
        for m in re.finditer(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])", nd):
            if id_ok(m.group()):
                warnings.append(f"{where}: unmarked valid ID {m.group()}")
        for m in re.finditer(r"(?<!\d)\d{16,19}(?!\d)", nd):
            if luhn_ok(m.group()):
                warnings.append(f"{where}: unmarked Luhn-valid number {m.group()}")

    # second pass: PERSON names that also occur outside any span
    for n, raw in zip(linenos, notes):
        outside = SPAN.sub(" ", raw)
        for p in sorted(seen_persons):
            if len(p) >= 2 and p in outside:
                warnings.append(f"{n}: person name {p} also appears unmarked")

    total = len(notes)
    distinct = len(set(notes))
    ratio = distinct / total if total else 0.0
    if total < 900:
        errors.append(f"only {total} notes (need >= 900)")
    if ratio < 0.95:
        errors.append(f"distinct ratio {ratio:.3f} < 0.95")
    memo = [k for k in sections if k.lower().startswith("(c)") or k.lower().startswith("c")]
    if memo and sections[memo[0]] < 300:
        errors.append(f"section {memo[0]} has {sections[memo[0]]} notes (need >= 300)")
    dups = [l for l, c in Counter(notes).items() if c > 1]

    print(f"notes: {total}   distinct: {distinct}   ratio: {ratio:.4f}")
    print("sections:")
    for k, v in sections.items():
        c = by_section.get(k, Counter())
        detail = " ".join(f"{l}={c[l]}" for l in sorted(c))
        print(f"  {v:5d}  {k}\n         {detail}")
    print("labels:")
    for k in sorted(LABELS):
        print(f"  {labels.get(k, 0):5d}  {k}")
    lines_without = sum(1 for l in notes if not SPAN.search(l))
    print(f"notes without any span (pure negatives): {lines_without}")
    if dups:
        print(f"duplicated lines: {len(dups)}")
        for d in dups[:20]:
            print("   ", d)
    for w in warnings:
        print("WARN", w)
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"FAILED ({len(errors)} errors)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
