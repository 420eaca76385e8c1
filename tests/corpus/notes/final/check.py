#!/usr/bin/env python3
"""Self-check for the FINAL HELD-OUT notes corpus (stdlib only).

Run:  /work/main/.venv/bin/python tests/corpus/notes/final/check.py

Checks
  * markup {{LABEL|text}} is closed, not nested, labels from the fixed list
  * CUSTOMER names are in customers.tsv, PERSON names are not
  * every ID / CARD has a correct check character (GB 11643, HKID, Taiwan ID,
    Luhn); other formats are shape-checked
  * MOBILE / LANDLINE / EMAIL / PLATE / ADDRESS are shape-checked
  * >= 1,200 notes, >= 95 % distinct, every note 8..240 characters (plain text)
  * section (i) has >= 300 notes, section (j) has >= 150 notes and no markup
Prints counts per label and per section and the distinct ratio; exit code 1
on any error.
"""
import collections
import datetime
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NOTES = os.path.join(HERE, 'notes.txt')
CUSTOMERS = os.path.join(HERE, 'customers.tsv')

LABELS = {'CUSTOMER', 'PERSON', 'MOBILE', 'LANDLINE', 'ID', 'CARD', 'EMAIL',
          'ADDRESS', 'PLATE'}
TOKEN = re.compile(r'\{\{([A-Z]+)\|([^{}|]+)\}\}')

CN_DIGITS = {'零': '0', '〇': '0', '洞': '0', '一': '1', '幺': '1', '二': '2',
             '两': '2', '三': '3', '四': '4', '五': '5', '六': '6', '七': '7',
             '八': '8', '九': '9'}
OCR_DIGITS = {'O': '0', 'o': '0', 'l': '1', 'I': '1'}


def to_digits(s, ocr=True):
    out = []
    for ch in s:
        if ch.isdigit() and ch.isascii():
            out.append(ch)
        elif ch in CN_DIGITS:
            out.append(CN_DIGITS[ch])
        elif ocr and ch in OCR_DIGITS:
            out.append(OCR_DIGITS[ch])
    return ''.join(out)


# ---------------------------------------------------------------- names
def norm_name(s):
    s = s.strip().lower()
    s = re.sub(r"[\s·•・.,\-']+", ' ', s).strip()
    return s


def name_keys(s):
    n = norm_name(s)
    keys = {n.replace(' ', '')}
    if re.search(r'[a-z]', n):
        keys.add(' '.join(sorted(n.split())))
    return keys


# ---------------------------------------------------------------- checks
GB_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def gb11643(d17):
    return '10X98765432'[sum(int(a) * b for a, b in zip(d17, GB_W)) % 11]


def valid_date(y, m, d):
    try:
        dt = datetime.date(y, m, d)
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= dt <= datetime.date(2024, 12, 31)


def luhn_ok(d):
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def hkid_ok(prefix, digits, check):
    if len(prefix) == 1:
        vals = [36, ord(prefix) - 55]
    else:
        vals = [ord(prefix[0]) - 55, ord(prefix[1]) - 55]
    s = vals[0] * 9 + vals[1] * 8 + sum(int(d) * w for d, w in zip(digits, [7, 6, 5, 4, 3, 2]))
    c = (11 - s % 11) % 11
    return check == ('A' if c == 10 else str(c))


TW_LETTERS = dict(zip('ABCDEFGHJKLMNPQRSTUVXYWZIO',
                      [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                       28, 29, 30, 31, 32, 33, 34, 35]))


def twid_ok(s):
    n = TW_LETTERS[s[0]]
    total = n // 10 + (n % 10) * 9 + sum(int(c) * w for c, w in zip(s[1:], [8, 7, 6, 5, 4, 3, 2, 1, 1]))
    return total % 10 == 0


def check_id(text):
    """Return (ok, kind)."""
    raw = re.sub(r'[\s\-/]', '', text)
    # mainland resident ID (18 or 15), OCR confusions and spoken digits allowed
    body = raw.upper().replace('叉', 'X')
    if re.fullmatch(r'[0-9OLI〇零一幺二两三四五六七八九洞]{17}[0-9OLIX〇零一幺二两三四五六七八九洞]', body):
        d = to_digits(body[:17].replace('L', '1'))
        last = body[17]
        last = 'X' if last == 'X' else to_digits(last.replace('L', '1'))
        if len(d) == 17 and d[0] in '12345678' and valid_date(int(d[6:10]), int(d[10:12]), int(d[12:14])):
            return gb11643(d) == last, 'CN-ID18'
        return False, 'CN-ID18'
    if re.fullmatch(r'\d{15}', body):
        return valid_date(1900 + int(body[6:8]), int(body[8:10]), int(body[10:12])), 'CN-ID15'
    up = raw.upper()
    m = re.fullmatch(r'([A-Z]{1,2})(\d{6})\(([0-9A])\)', up)   # HKID written with (check)
    if m:
        return hkid_ok(*m.groups()), 'HKID'
    m = re.fullmatch(r'([A-Z])([0-9LIO]{9})', raw.upper())
    if m and to_digits(m.group(2).replace('L', '1'))[0] in '12':
        s = m.group(1) + to_digits(m.group(2).replace('L', '1'))
        return twid_ok(s), 'TWID'
    m = re.fullmatch(r'[1578]\d{6}\(?\d\)?', up)
    if m:
        return True, 'MOID'
    # permits and passports: letter prefix kept, OCR mapping on the digit part
    m = re.fullmatch(r'([A-Z]{1,2})([0-9O]{7,10})', up)
    if m:
        return True, 'PASSPORT/PERMIT'
    if re.fullmatch(r'[0-9O]{8}', up):
        return True, 'TW-PERMIT'
    if re.fullmatch(r'\d{9}', up):
        return True, 'PASSPORT'
    if re.fullmatch(r'\d{2}[A-Z]{2}\d{5}', up) or re.fullmatch(r'[A-Z]\d{7}[A-Z]', up):
        return True, 'PASSPORT'
    return False, '?'


def check_card(text):
    d = to_digits(text)
    return 13 <= len(d) <= 19 and luhn_ok(d) and not re.search(r'[*＊]', text)


def check_mobile(text):
    if re.search(r'[*＊]', text):
        return False
    t = text.strip()
    d = to_digits(t)
    if t.startswith('+86') or t.startswith('(+86)'):
        d = d[2:]
    elif d.startswith('0086'):
        d = d[4:]
    elif len(d) == 13 and d.startswith('86'):
        d = d[2:]
    return re.fullmatch(r'1[3-9]\d{9}', d) is not None


def check_landline(text):
    if re.search(r'[*＊]', text):
        return False
    main = re.split(r'转|分机|ext\.?|x(?=\d)', text, flags=re.I)[0]
    d = to_digits(main)
    if d.startswith(('400', '800')) and len(d) == 10:
        return False
    if not text.strip().startswith('+') and re.fullmatch(r'1[3-9]\d{9}', d):
        return False          # that would be a mainland mobile
    return 7 <= len(d) <= 13


def check_email(text):
    t = text.replace('艾特', '@').replace('点', '.')
    t = re.sub(r'\s+at\s+', '@', t)
    t = re.sub(r'\s+dot\s+', '.', t)
    t = ''.join(CN_DIGITS.get(c, c) for c in t)
    t = re.sub(r'\s+', '', t)
    return re.fullmatch(r'[\w.+\-]+@[\w\-]+(\.[\w\-]+)+', t) is not None


PROV = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼'


def check_plate(text):
    t = re.sub(r'[\s·•・\-]', '', text)
    t = ''.join(CN_DIGITS.get(c, c) for c in t)
    return re.fullmatch('[%s][A-Z][A-HJ-NP-Z0-9]{5,6}[挂学警]?' % PROV, t) is not None


def check_address(text):
    has_num = re.search(r'[0-9０-９一二三四五六七八九十百]', text) is not None
    has_unit = re.search(r'号|栋|幢|楼|单元|室|座|组|弄|巷|层|號|樓|社|院'
                         r'|Road|Rd|Street|St\b|Apt|Flat|Room|Tower|Block', text) is not None
    has_unit = has_unit or re.search(r'\d+-\d+-\d+', text) is not None   # 7-2-1102
    return has_num and has_unit


# ---------------------------------------------------------------- main
def main():
    errors = []

    cust_names = {}
    mobiles = set()
    with open(CUSTOMERS, encoding='utf-8') as f:
        for i, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line:
                continue
            parts = line.split('\t')
            if len(parts) != 2:
                errors.append('customers.tsv:%d: need name<TAB>mobile' % i)
                continue
            name, mob = parts
            if not check_mobile(mob):
                errors.append('customers.tsv:%d: bad mobile %r' % (i, mob))
            for k in name_keys(name):
                if k in cust_names and cust_names[k] != mob:
                    errors.append('customers.tsv:%d: name %r listed with two mobiles' % (i, name))
                cust_names[k] = mob
            mobiles.add(mob)
    n_customers = len(mobiles)
    if not 200 <= n_customers <= 400:
        errors.append('customers.tsv: %d customers, need 200-400' % n_customers)

    label_counts = collections.Counter()
    section_counts = collections.Counter()
    section_labels = collections.defaultdict(collections.Counter)
    id_kinds = collections.Counter()
    used_customers = set()
    notes = []
    section = None
    with open(NOTES, encoding='utf-8') as f:
        for ln, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line.strip():
                continue
            if line.startswith('#'):
                m = re.match(r'#\s*\(([a-z])\)', line)
                section = m.group(1) if m else line[1:].strip()
                continue
            notes.append(line)
            section_counts[section] += 1
            rest = TOKEN.sub('', line)
            if '{{' in rest or '}}' in rest:
                errors.append('%d: unclosed or malformed markup: %s' % (ln, line))
            plain = TOKEN.sub(lambda m: m.group(2), line)
            if not 8 <= len(plain) <= 240:
                errors.append('%d: plain length %d outside 8..240: %s' % (ln, len(plain), line))
            toks = TOKEN.findall(line)
            if section == 'j' and toks:
                errors.append('%d: negative section contains markup: %s' % (ln, line))
            for lab, txt in toks:
                if lab not in LABELS:
                    errors.append('%d: unknown label %s' % (ln, lab))
                    continue
                if txt != txt.strip() or not txt.strip():
                    errors.append('%d: span has outer whitespace or is empty: %r' % (ln, txt))
                label_counts[lab] += 1
                section_labels[section][lab] += 1
                ok = True
                if '?' in txt and lab in ('ID', 'CARD'):
                    ok = False
                elif lab == 'CUSTOMER':
                    keys = name_keys(txt)
                    ok = bool(keys & set(cust_names))
                    if ok:
                        used_customers.add(cust_names[next(iter(keys & set(cust_names)))])
                elif lab == 'PERSON':
                    ok = not (name_keys(txt) & set(cust_names)) and not re.search(r'\d', txt)
                elif lab == 'ID':
                    ok, kind = check_id(txt)
                    id_kinds[kind] += 1
                elif lab == 'CARD':
                    ok = check_card(txt)
                elif lab == 'MOBILE':
                    ok = check_mobile(txt)
                elif lab == 'LANDLINE':
                    ok = check_landline(txt)
                elif lab == 'EMAIL':
                    ok = check_email(txt)
                elif lab == 'PLATE':
                    ok = check_plate(txt)
                elif lab == 'ADDRESS':
                    ok = check_address(txt)
                if not ok:
                    errors.append('%d: invalid %s %r' % (ln, lab, txt))

    total = len(notes)
    distinct = len(set(notes))
    ratio = distinct / total if total else 0.0
    if total < 1200:
        errors.append('only %d notes, need >= 1200' % total)
    if ratio < 0.95:
        errors.append('distinct ratio %.4f < 0.95' % ratio)
    if section_counts.get('i', 0) < 300:
        errors.append('section (i) has %d notes, need >= 300' % section_counts.get('i', 0))
    if section_counts.get('j', 0) < 150:
        errors.append('section (j) has %d notes, need >= 150' % section_counts.get('j', 0))
    dups = [n for n, c in collections.Counter(notes).items() if c > 1]

    print('notes: %d   distinct: %d   ratio: %.4f' % (total, distinct, ratio))
    print('customers in customers.tsv: %d distinct (by mobile); used as CUSTOMER in notes: %d'
          % (n_customers, len(used_customers)))
    print('notes with markup: %d   notes without markup: %d'
          % (sum(1 for n in notes if TOKEN.search(n)), sum(1 for n in notes if not TOKEN.search(n))))
    print('\nspans per label:')
    for lab in sorted(LABELS):
        print('  %-9s %5d' % (lab, label_counts[lab]))
    print('  %-9s %5d' % ('total', sum(label_counts.values())))
    print('\nID kinds: ' + ', '.join('%s=%d' % kv for kv in sorted(id_kinds.items())))
    print('\nnotes per section:')
    for sec in sorted(section_counts, key=str):
        labs = ' '.join('%s=%d' % kv for kv in sorted(section_labels[sec].items()))
        print('  (%s) %4d   %s' % (sec, section_counts[sec], labs))
    if dups:
        print('\nrepeated notes: %d' % len(dups))
    if errors:
        print('\nERRORS (%d):' % len(errors))
        for e in errors:
            print('  ' + e)
        return 1
    print('\nOK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
