"""Free-text masking speed: Presidio's `BatchAnalyzerEngine` (one core) beside `handover.pii.notes` (all cores).

    python bench/pii.py [--notes 200000] [--customers 3000] [--naive-notes 5000] [--seed 7]
                        [--workers N] [--results bench/RESULTS.md]

1. Writes N short service notes (20–60 characters) the way a branch's staff do: about a third quote a
   customer's name (from the branch's customer list, which is also the analyzer's deny list), a fifth a
   mobile, a few a resident ID, card, address, plate, landline, e-mail or passport (some glued to the
   Chinese around them), many nothing. Each note carries its ground-truth spans.
2. Naive: `BatchAnalyzerEngine(analyzer).analyze_iterator(notes)` on one core, over the first
   --naive-notes notes (it is slow; the notes are drawn independently, so any prefix is the same mix).
3. Fast: `find_pii_many(notes, analyzer)` over all N notes, on all cores, workers' start included; and
   once more in one process, with fresh caches (what one chunk's task does in the pipeline).
4. Both against the ground truth: recall (a true span is found if a finding of the same entity overlaps
   it) and precision (a finding is right if it overlaps a true span of the same entity), and how many
   notes get the very same findings from both.
Prints a markdown block for bench/RESULTS.md, and appends it there with --results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import generate  # bench/generate.py: the branch's vocabulary

Truth = tuple[str, int, int]  # (entity, start, end)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_PLATE_PROVINCES = "沪京苏浙粤川鄂"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DATES = ("今天", "上午", "下午", "昨日", "周一", "月底前", "下周")
_PRODUCTS = (
    "理财产品",
    "定期存款",
    "大额存单",
    "基金定投",
    "信用卡分期",
    "房贷提前还款",
    "外汇业务",
    "贵金属",
)

# Notes without PII (the bulk of what staff write), with fillers so they are not all identical.
_PLAIN = (
    "{date}客户来电咨询{product}的收益和赎回规则，已解答",
    "{date}到柜面办理{product}，资料齐全，业务已受理",
    "咨询{product}相关事宜，建议{n}日后再来网点面谈",
    "投诉排队时间过长，已致歉并登记，{date}回访",
    "激活手机银行失败，指导重新绑定后成功，用时{n}分钟",
    "预约{n}月{m}日办理大额取现{amount}万元，已登记",
    "账户转移事宜已说明所需材料，{date}再来办理",
    "修改密码成功，提醒客户注意账户安全和电信诈骗",
    "查询近{n}个月流水并打印，客户确认无误后签收",
    "{product}到期，客户选择续存{n}年，已办理完毕",
)
_NAME = (
    "客户{name}来电咨询{product}，已回复",
    "{name}先生到柜面办理挂失补卡，{date}领卡",
    "{name}女士反映手机银行无法登录，已远程协助处理",
    "与{name}沟通{product}到期安排，客户同意续存",
    "{name}{date}来网点办理{product}，资料已留存",
    "受理{name}的投诉，已上报网点负责人跟进处理",
    "联系人：{name}，{date}陪同老人办理业务",
)
_MOBILE = (
    "更新联系电话为{mobile}，已核实本人",
    "回拨{mobile}无人接听，{date}再联系",
    "客户要求更换预留手机号，新号码{mobile}",
    "短信验证码发送至{mobile}失败，建议重试",
)
_NAME_MOBILE = (
    "客户{name}来电咨询，回拨{mobile}",
    "{name}要求更换预留手机号，新号码{mobile}",
)
_OTHER = (
    ("核对身份证{rid}无误，已办理{product}", "rid"),
    ("客户身份证号码{rid}已过期，请{date}来更新", "rid"),
    ("证件号{rid}与系统不一致，暂缓办理", "rid"),
    ("卡号{card}已挂失，{date}补卡", "card"),
    ("客户银行卡{card}被锁定，已解锁", "card"),
    ("客户住址变更为{address}，已更新", "address"),
    ("寄送对账单至{address}，请注意签收", "address"),
    ("客户车辆{plate}停放在网点门口，已提醒挪车", "plate"),
    ("登记停车车牌{plate}，办理{product}", "plate"),
    ("单位电话{landline}，工作日可联系", "landline"),
    ("客户邮箱{email}，对账单改为电子版", "email"),
    ("护照号{passport}，办理外汇业务已核验", "passport"),
    ("企业统一社会信用代码{uscc}，开立对公账户", "uscc"),
)
# What staff add after the point of a note (sometimes nothing).
_TAILS = (
    "",
    "",
    "，已告知客户办理进度",
    "，客户表示满意",
    "，需二次回访确认",
    "，已录入系统备查",
    "，请网点主管{date}复核",
    "，客户对服务无异议",
    "，按流程办理，无异常",
)
_ENTITY = {
    "name": "PERSON", "mobile": "CN_MOBILE", "rid": "CN_RESIDENT_ID", "card": "BANK_CARD",
    "address": "CN_ADDRESS", "plate": "CN_LICENCE_PLATE", "landline": "CN_LANDLINE",
    "email": "EMAIL_ADDRESS", "passport": "CN_PASSPORT", "uscc": "CN_USCC",
}  # fmt: skip


def customer_names(n: int, seed: int) -> list[str]:
    """The branch's customer list: ``n`` distinct names of a surname and one or two given characters."""
    rng = random.Random(seed)
    surnames, _ = generate._split_pinyin(generate._SURNAMES)
    given = (
        generate._split_pinyin(generate._GIVEN_MALE)[0] + generate._split_pinyin(generate._GIVEN_FEMALE)[0]
    )
    names: set[str] = set()
    while len(names) < n:
        g = rng.choice(given) + (rng.choice(given) if rng.random() < 0.7 else "")
        names.add(rng.choice(surnames) + g)
    return sorted(names)


def _resident_id(rng: random.Random) -> str:
    region = rng.choice(generate._REGIONS)[0]
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
    body = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def _luhn(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    length = rng.choice((16, 19))
    card = _luhn(str(rng.choice(generate._CARD_BINS)) + "".join(rng.choices("0123456789", k=length - 7)))
    return " ".join(card[i : i + 4] for i in range(0, 16, 4)) if length == 16 and rng.random() < 0.3 else card


def _mobile(rng: random.Random) -> str:
    number = f"{rng.choice(generate._MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
    shape = rng.random()
    if shape < 0.1:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if shape < 0.2:
        return "+86 " + number
    return number


def _address(rng: random.Random) -> str:
    district, _, _, roads = rng.choice(generate._CITIES)
    road = rng.choice(roads.split())
    tail = rng.choice(("", f"{rng.randint(1, 30)}栋{rng.randint(101, 2505)}室", f"{rng.randint(1, 12)}号楼"))
    return f"{district}{road}{rng.randint(1, 999)}号{tail}"


def _plate(rng: random.Random) -> str:
    chars = rng.choices(_PLATE_LETTERS + "0123456789" * 3, k=4) + [rng.choice("0123456789")]
    return rng.choice(_PLATE_PROVINCES) + rng.choice("ABCDEFGHJ") + "".join(chars)


def _uscc(rng: random.Random) -> str:
    body = "91" + f"{rng.choice(generate._REGIONS)[0]}" + "".join(rng.choices(_USCC_ALPHABET, k=9))
    check = (
        31 - sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True)) % 31
    ) % 31
    return body + _USCC_ALPHABET[check]


def _email(rng: random.Random) -> str:
    _, pinyin = generate._split_pinyin(generate._SURNAMES)
    return f"{rng.choice(pinyin)}{rng.randrange(100, 9999)}@{rng.choice(generate._MAIL_DOMAINS)[0]}"


def _fill(template: str, values: dict[str, str]) -> tuple[str, list[Truth]]:
    """``template`` with its fields filled, and the span of each PII field."""
    text, truth, rest = "", [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        field, _, rest = after.partition("}")
        text += before
        value = values[field]
        if field in _ENTITY:
            truth.append((_ENTITY[field], len(text), len(text) + len(value)))
        text += value
    return text + rest, truth


def synthetic_notes(n: int, names: list[str], seed: int) -> list[tuple[str, list[Truth]]]:
    """``n`` notes with their ground-truth spans: ~35 % name, ~20 % mobile, ~13 % another identifier."""
    rng = random.Random(seed)
    notes = []
    for _ in range(n):
        values = {
            "name": rng.choice(names), "mobile": _mobile(rng), "rid": _resident_id(rng), "card": _card(rng),
            "address": _address(rng), "plate": _plate(rng), "landline": f"021-{rng.randint(5000, 6999)}{rng.randrange(10**4):04d}",
            "email": _email(rng), "passport": f"E{rng.randrange(10**8):08d}", "uscc": _uscc(rng),
            "date": rng.choice(_DATES), "product": rng.choice(_PRODUCTS), "n": str(rng.randint(1, 12)),
            "m": str(rng.randint(1, 28)), "amount": str(rng.randint(5, 50)),
        }  # fmt: skip
        draw = rng.random()
        if draw < 0.08:
            template = rng.choice(_NAME_MOBILE)
        elif draw < 0.35:
            template = rng.choice(_NAME)
        elif draw < 0.47:
            template = rng.choice(_MOBILE)
        elif draw < 0.60:
            template = rng.choice(_OTHER)[0]
        else:
            template = rng.choice(_PLAIN)
        notes.append(_fill(template + rng.choice(_TAILS), values))
    return notes


def score(found: list[list[tuple]], truth: list[list[Truth]]) -> tuple[float, float, Counter, Counter]:
    """Recall and precision (overlap, same entity), and per entity the true spans and those found."""
    hit = total = right = reported = 0
    per_entity, per_entity_hit = Counter(), Counter()
    for spans, true in zip(found, truth, strict=True):
        for entity, start, end in true:
            ok = any(e == entity and s < end and start < t for e, s, t, _ in spans)
            total += 1
            hit += ok
            per_entity[entity] += 1
            per_entity_hit[entity] += ok
        for e, s, t, _ in spans:
            reported += 1
            right += any(e == entity and s < end and start < t for entity, start, end in true)
    return hit / max(1, total), right / max(1, reported), per_entity, per_entity_hit


def _spans(results) -> list[tuple]:
    return sorted(
        ((r.entity_type, r.start, r.end, r.score) for r in results), key=lambda t: (t[1], t[2], t[0])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--naive-notes", type=int, default=5_000, help="notes for the (slow) naive run")
    parser.add_argument("--workers", type=int, default=None, help="fast path processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=None, help="append the markdown block here")
    args = parser.parse_args()

    from handover.pii import notes as many
    from handover.pii.engine import LANGUAGE, analyzer
    from handover.pii.notes import _default_workers, find_pii_many
    from handover.pii.recognizers.person import tagged_words
    from presidio_analyzer import BatchAnalyzerEngine

    names = customer_names(args.customers, args.seed)
    corpus = synthetic_notes(args.notes, names, args.seed)
    notes, truth = [t for t, _ in corpus], [s for _, s in corpus]
    engine = analyzer(names)
    engine.analyze("客户张伟来电", language=LANGUAGE)  # load jieba's dictionary outside the timings
    workers = args.workers or _default_workers()

    k = min(args.naive_notes, len(notes))
    tagged_words.cache_clear()
    started = time.perf_counter()
    naive = [_spans(r) for r in BatchAnalyzerEngine(engine).analyze_iterator(notes[:k], language=LANGUAGE)]
    naive_seconds = time.perf_counter() - started

    many._COMPILED.clear()  # fresh caches (the fast path's live there, not in tagged_words)
    started = time.perf_counter()
    fast = find_pii_many(notes, engine, workers=workers)
    fast_seconds = time.perf_counter() - started

    many._COMPILED.clear()  # fresh caches
    started = time.perf_counter()
    find_pii_many(notes, engine, workers=1)
    one_seconds = time.perf_counter() - started

    identical = sum(a == b for a, b in zip(naive, fast[:k], strict=True))
    naive_rate, fast_rate = k / naive_seconds, len(notes) / fast_seconds
    n_recall, n_precision, _, _ = score(naive, truth[:k])
    f_recall, f_precision, per_entity, per_entity_hit = score(fast, truth)
    fk_recall, fk_precision, _, _ = score(fast[:k], truth[:k])
    distinct = len(set(notes))
    with_pii = sum(bool(t) for t in truth)
    mean_len = sum(map(len, notes)) / len(notes)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.node() or 'host'}: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"
    lines = [
        f"## {when} — free-text PII (`bench/pii.py`) — {machine}",
        "",
        (
            f"{len(notes):,} synthetic notes (mean {mean_len:.0f} characters, {distinct:,} distinct, "
            f"{with_pii:,} with PII); {len(names):,} customer names in the deny list; the same analyzer "
            "(all recognizers) for both runs."
        ),
        "",
        "| run | notes | cores | seconds | notes/s | recall | precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
        (
            f"| naive: Presidio `BatchAnalyzerEngine` | {k:,} | 1 | {naive_seconds:.1f} | {naive_rate:,.0f} | "
            f"{n_recall:.4f} | {n_precision:.4f} |"
        ),
        f"| fast: `find_pii_many` (same {k:,} notes) | {k:,} | — | — | — | {fk_recall:.4f} | {fk_precision:.4f} |",
        (
            f"| fast: `find_pii_many` | {len(notes):,} | {workers} | {fast_seconds:.2f} | {fast_rate:,.0f} | "
            f"{f_recall:.4f} | {f_precision:.4f} |"
        ),
        (
            f"| fast: `find_pii_many`, one process | {len(notes):,} | 1 | {one_seconds:.2f} | "
            f"{len(notes) / one_seconds:,.0f} | (same) | (same) |"
        ),
        "",
        f"- fast / naive: **{fast_rate / naive_rate:.1f}×** notes per second"
        + (f" (naive measured on the first {k:,} notes: it is slow)" if k < len(notes) else ""),
        f"- one process: **{len(notes) / one_seconds / naive_rate:.1f}×** the naive notes per second",
        (
            f"- findings identical to the naive run on {identical:,} of {k:,} notes (the others: jieba "
            "no longer tags a name across a known name or number; see `handover.pii.notes`)"
        ),
        "- recall by entity (fast): "
        + ", ".join(f"{e} {per_entity_hit[e]}/{per_entity[e]}" for e in sorted(per_entity)),
        "",
    ]
    block = "\n".join(lines)
    print(block)
    if args.results:
        with args.results.open("a", encoding="utf-8") as out:
            out.write("\n" + block)


if __name__ == "__main__":
    main()
