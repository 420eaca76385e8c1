#!/usr/bin/env python3
"""Self-check for the hand-written teller notes corpus (stdlib only).

Usage: python check.py [notes.txt] [customers.tsv]

Errors (exit code 1):
  * unbalanced / malformed {{LABEL|text}} markup, unknown labels
  * CUSTOMER not in customers.tsv, PERSON that *is* in customers.tsv
  * marked numbers that do not look right: MOBILE not 11 digits 1[3-9]...,
    ID with a wrong GB 11643 check character, CARD failing Luhn, bad EMAIL
  * note length outside 10..160 characters, fewer than 900 notes,
    distinct ratio below 95 %
Warnings (informational): unmarked digit runs that look like mobiles / IDs /
Luhn-valid cards, customer names that appear unmarked (several customer names
are also ordinary words, e.g. 夏天, 田野, so these are expected), title-only
mentions (王先生 ...) and nickname mentions (老王 ...), which are counted.
"""
import collections
import os
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = {"CUSTOMER", "PERSON", "MOBILE", "LANDLINE", "ID", "CARD", "EMAIL", "ADDRESS"}
TAG = re.compile(r"\{\{([A-Za-z_]+)\|([^{}|]*)\}\}")

ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_MAP = "10X98765432"
SURNAMES = set(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍韦申尤毕聂焦向柳邢骆岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵解强柴华车冉房边")


def norm(s):
    return unicodedata.normalize("NFKC", s)


def digits(s):
    return re.sub(r"\D", "", norm(s))


def id_ok(t):
    t = norm(t).replace(" ", "").upper()
    if re.fullmatch(r"\d{17}[\dX]", t):
        return ID_MAP[sum(int(c) * w for c, w in zip(t[:17], ID_W)) % 11] == t[17]
    if re.fullmatch(r"\d{15}", t):  # old first-generation ID, no check digit
        return True
    # other documents: passport (E/EA..., G), 回乡证 H/M, 港澳通行证 C, 台胞证 8 digits,
    # foreign passports
    return bool(re.fullmatch(r"[A-Z]{1,2}\d{6,10}|\d{8}|[A-Z]\d{7}[A-Z]?", t))


def luhn_ok(t):
    d = digits(t)
    if not 16 <= len(d) <= 19:
        return False
    s = 0
    for i, c in enumerate(reversed(d)):
        n = int(c)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        s += n
    return s % 10 == 0


def mobile_ok(t):
    d = digits(t)
    if len(d) == 13 and d.startswith("86"):
        d = d[2:]
    return bool(re.fullmatch(r"1[3-9]\d{9}", d))


def landline_ok(t):
    t = norm(t)
    main = re.split(r"转|ext\.?|EXT|分机|x(?=\d)", t)[0]
    main = re.sub(r"[-—－ ]\d{2,5}$", "", main) if len(digits(main)) > 12 else main
    n = len(digits(main))
    if norm(t).lstrip().startswith("+86"):
        n -= 2
    return 7 <= n <= 12


def email_ok(t):
    return bool(re.fullmatch(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+", norm(t).strip()))


CHECKS = {"MOBILE": mobile_ok, "ID": id_ok, "CARD": luhn_ok, "EMAIL": email_ok,
          "LANDLINE": landline_ok}


def main():
    notes_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "notes.txt")
    cust_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "customers.tsv")
    customers = {}
    for i, line in enumerate(open(cust_path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            print(f"customers.tsv:{i}: expected name<TAB>mobile")
            return 1
        customers[parts[0]] = parts[1]
    errors, warnings = [], []
    for n, m in customers.items():
        if m and not mobile_ok(m):
            errors.append(f"customers.tsv: bad mobile for {n}: {m}")

    notes, sections = [], collections.OrderedDict()
    cur = None
    label_counts = collections.Counter()
    sec_label = collections.defaultdict(collections.Counter)
    values = collections.defaultdict(set)
    title_only = collections.Counter()
    nick = collections.Counter()
    unmarked_customer = collections.Counter()
    for ln, raw in enumerate(open(notes_path, encoding="utf-8"), 1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("# "):
                cur = line[2:].strip()
                sections.setdefault(cur, 0)
            continue
        where = f"notes.txt:{ln}"
        if cur is None:
            errors.append(f"{where}: note before any section header")
            cur = "?"
            sections.setdefault(cur, 0)
        sections[cur] += 1
        notes.append(line)
        rest = TAG.sub("", line)
        if "{{" in rest or "}}" in rest:
            errors.append(f"{where}: unbalanced or malformed markup: {line}")
        if not 10 <= len(line) <= 160:
            errors.append(f"{where}: length {len(line)} outside 10..160")
        plain = TAG.sub(lambda m: m.group(2), line)
        if len(plain) < 10:
            errors.append(f"{where}: plain length {len(plain)} < 10")
        for m in TAG.finditer(line):
            lab, txt = m.group(1), m.group(2)
            if lab not in LABELS:
                errors.append(f"{where}: unknown label {lab}")
                continue
            if not txt.strip() or txt != txt.strip():
                errors.append(f"{where}: empty or padded span {m.group(0)}")
            label_counts[lab] += 1
            sec_label[cur][lab] += 1
            values[lab].add(norm(txt))
            if lab == "CUSTOMER" and txt not in customers:
                errors.append(f"{where}: CUSTOMER {txt} not in customers.tsv")
            if lab == "PERSON" and txt in customers:
                errors.append(f"{where}: PERSON {txt} is a customer")
            if lab in CHECKS and not CHECKS[lab](txt):
                errors.append(f"{where}: {lab} fails format check: {txt}")
        # what is left outside the markup
        outside = norm(TAG.sub("\u3000", line))
        for m in re.finditer(r"(?<!\d)1[3-9]\d{9}(?!\d)", outside):
            warnings.append(f"{where}: unmarked mobile-like {m.group(0)}")
        for m in re.finditer(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])", outside):
            if id_ok(m.group(0)):
                warnings.append(f"{where}: unmarked valid-ID-like {m.group(0)}")
        for m in re.finditer(r"(?<![\dA-Za-z])\d{16,19}(?![\dA-Za-z])", outside):
            if luhn_ok(m.group(0)):
                warnings.append(f"{where}: unmarked Luhn-valid {m.group(0)}")
        for name in customers:
            if len(name) >= 2 and name in outside:
                unmarked_customer[name] += 1
        for m in re.finditer(r"([%s])(先生|女士|小姐|经理|阿姨|师傅|老师|主任|律师|大爷|大妈|总)"
                             % "".join(sorted(SURNAMES)), outside):
            title_only[m.group(0)] += 1
        for m in re.finditer(r"(?<!养)(老|小|阿)([王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许沈曾彭蒋蔡丁魏叶潘杜钟汪田姜方石谭廖邹熊金陆郝孔白毛邱秦江顾邵孟钱汤贺赖龚])(?=[^\u4e00-\u9fff]|说|讲|来|去|的|和|跟|也|都|在|要|让|帮|打|陪|是|又|还|已|刚|那|这|今|昨|称|反|问|$)", outside):
            nick[m.group(0)] += 1

    total = len(notes)
    distinct = len(set(notes))
    ratio = distinct / total if total else 0
    if total < 900:
        errors.append(f"only {total} notes (< 900)")
    if ratio < 0.95:
        errors.append(f"distinct ratio {ratio:.3f} < 0.95")

    print(f"notes: {total}, distinct: {distinct}, ratio: {ratio:.4f}")
    print("sections:")
    for s, c in sections.items():
        if c:
            print(f"  {c:4d}  {s}")
    print("labels (spans / distinct values):")
    for lab in sorted(LABELS):
        print(f"  {lab:9s} {label_counts[lab]:5d} / {len(values[lab])}")
    print("labels per section:")
    for s in sections:
        if not sections[s]:
            continue
        print("  " + s[:30] + ": " + ", ".join(f"{k}={v}" for k, v in sorted(sec_label[s].items())))
    notes_with_pii = sum(1 for n in notes if TAG.search(n))
    print(f"notes with at least one span: {notes_with_pii}; without any: {total - notes_with_pii}")
    used = {v for v in values["CUSTOMER"]}
    print(f"customers in tsv: {len(customers)}, referred to in notes: {len(used)}")
    print(f"title-only mentions (unmarked, e.g. 王先生): {sum(title_only.values())}  "
          + " ".join(f"{k}×{v}" for k, v in title_only.most_common()))
    print(f"nickname mentions (unmarked, e.g. 老王/小李, approximate): {sum(nick.values())}  "
          + " ".join(f"{k}×{v}" for k, v in nick.most_common()))
    if unmarked_customer:
        print("customer names occurring unmarked (word use, check these): "
              + ", ".join(f"{k}×{v}" for k, v in unmarked_customer.most_common()))
    for w in warnings:
        print("WARN", w)
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
