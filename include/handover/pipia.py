"""The personal-information protection impact assessment (个人信息保护影响评估, PIPIA; PIPL Art. 55–56,
GB/T 39335-2020) of one branch transfer: drafted, rated, approved — before anything is loaded.

**Drafted** (:func:`draft`) from the contract and the counts of a run (or of the export): the purposes (the
notice's), the categories of personal information and how many records of each, the sensitive personal
information (PIPL Art. 28: identity-document numbers, financial accounts, cards and transactions), the
recipient, the jurisdiction (and a cross-border approval), the measures in force — encryption, masking,
access, retention — and the data map (what flows where: :mod:`handover.lineage`'s entities, from the
contract). **Rated**: each risk of :data:`RISKS` gets a likelihood and an impact (1–3) from those facts, and
a rating (low ≤ 2 < medium ≤ 4 < high). **Approver**: named by the contract (``transfer.pipia.approver``) or
the trigger; only that person's decision approves it.

**Signed like the manifest** (:func:`write`): ``pipia.json`` (canonical JSON), ``pipia.json.sig``
(Ed25519), ``pipia.pub.pem``, and the bilingual ``pipia.html`` (:func:`render_html`). **Kept** in
``control.pipia`` (outside every backup: a restore never rolls an approval back) under the retention class
``pipia`` — at least three years after the decision (Art. 56), :data:`MINIMUM_KEEP`.

**The gate** (:func:`require_approved`): ``branch_transfer`` loads nothing (dry runs aside) unless the
contract or the trigger names a PIPIA of the branch that is approved.

Names, counts and ratings only — never a customer value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

from handover.durations import Duration
from handover.errors import HandoverError

PIPIA_VERSION = 1
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{3,127}$")
RETENTION_CLASS = "pipia"
MINIMUM_KEEP = Duration.parse("3y")  # PIPL Art. 56: kept at least three years
DECISIONS = ("approved", "rejected")

# PIPL Art. 28: sensitive personal information — identity-document numbers, financial accounts (and what
# moves through them). Entities wholly sensitive, and fields sensitive wherever they appear.
SENSITIVE_ENTITIES = {"accounts": "金融账户", "cards": "银行卡", "transactions": "交易记录"}
SENSITIVE_FIELDS = {"id_number": "身份证件号码", "card_number": "银行卡号", "balance": "账户余额",
                    "amount": "交易金额", "counterparty": "交易对手"}


class PipiaError(HandoverError):
    """No approved impact assessment for this transfer, or one that cannot be decided as asked."""


def _rating(likelihood: int, impact: int) -> str:
    score = likelihood * impact
    return "low" if score <= 2 else "medium" if score <= 4 else "high"


def categories(contract, counts: dict[str, int]) -> list[dict]:
    """Per entity: its rows, its columns by PII class, which of them are sensitive."""
    out = []
    for name, spec in contract.entities.items():
        by_class: dict[str, list[str]] = {}
        for column in spec.columns:
            by_class.setdefault(column.pii, []).append(column.name)
        sensitive = sorted({c.name for c in spec.columns if c.name in SENSITIVE_FIELDS}
                           | ({"*"} if name in SENSITIVE_ENTITIES else set()))
        out.append({"entity": name, "rows": int(counts.get(name, 0)), "columns": by_class,
                    "sensitive": sensitive})
    return out


def measures(contract) -> dict:
    """The protections in force for this contract's records (what the pipeline does; named, not promised)."""
    masking = "default policy" if contract.masking is None else "default policy with the contract's overrides"
    return {
        "encryption": "identifiers AES-256-GCM per field under a data key per branch, wrapped by the master key; "
                      "blind indexes HMAC-SHA256; originals and backups encrypted (AES-256-GCM)",
        "masking": f"analytics tier: pseudonym tokens, generalised quasi-identifiers, free text masked ({masking}); "
                   f"k-anonymity {'min_k ' + str(contract.min_k) if contract.min_k else 'measured'}",
        "access": "roles handover_operator (pipeline), handover_analyst (analytics only), handover_vault_reader "
                  "(ciphertext only, with a recorded reason and expiry); audit trail hash-chained and signed",
        "retention": {name: {"keep": c["keep"], "after": c["after"], **({"basis": c["basis"]} if c.get("basis")
                                                                          else {})}
                      for name, c in sorted(contract.retention.items())},
        "leak_checks": "scans before load and after: identifiers and names searched for where they must not be",
    }


def risks(contract, cats: list[dict], crossing: dict) -> list[dict]:
    """The risks of :data:`RISKS`, each rated from the facts of this transfer."""
    sensitive_rows = sum(c["rows"] for c in cats if c["sensitive"])
    has_notes = any(name in columns for c in cats for columns in c["columns"].values() for name in ("note", "memo"))
    facts = {
        "unauthorised_access": (1, 3 if sensitive_rows else 2),
        "reidentification": (1 if (contract.min_k or 0) >= 2 else 2, 2),
        "cross_border": ((2, 3) if crossing.get("cross_border") else (1, 1)),
        "purpose_creep": (1 if all(contract.agreement.values()) else 2, 2),
        "over_retention": (1 if contract.retention else 2, 2),
        "not_informed": (1 if contract.notice else 3, 2),
        "free_text_residue": ((2, 2) if has_notes else (1, 1)),
    }
    out = []
    for key, zh, en, mitigation in RISKS:
        likelihood, impact = facts[key]
        out.append({"risk": key, "zh": zh, "en": en, "likelihood": likelihood, "impact": impact,
                    "rating": _rating(likelihood, impact), "mitigation": mitigation})
    return out


RISKS = (
    ("unauthorised_access", "未经授权访问身份及账户信息", "Unauthorised access to identities and accounts",
     "field encryption, roles, audit trail"),
    ("reidentification", "分析层数据被重新识别", "Re-identification from the analytics tier",
     "pseudonyms, generalisation, k-anonymity"),
    ("cross_border", "数据出境", "Data leaving its jurisdiction", "refused without a recorded approval"),
    ("purpose_creep", "受让方超出目的处理", "The recipient processing beyond the purposes",
     "transfer and confidentiality agreements"),
    ("over_retention", "超期保存", "Kept longer than needed", "retention schedule; nightly purge"),
    ("not_informed", "个人未获告知", "Individuals not informed", "customer_notice; objections honoured"),
    ("free_text_residue", "自由文本残留个人信息", "Personal information left in free text",
     "masking and a second detector; leak scans"),
)


def reference_for(contract, override: str | None = None) -> str:
    """The PIPIA's reference: the trigger's, the contract's, else one made from the branch and contract."""
    ref = override or contract.pipia_reference or f"PIPIA-{contract.branch_id}-{contract.sha256[:8]}"
    if not REFERENCE.match(ref):
        raise PipiaError("a PIPIA reference is 4–128 letters, digits, '/', '-', '_', '.', ':' — not free text")
    return ref


def draft(contract, counts: dict[str, int], *, crossing: dict, approver: str | None = None,
          reference: str | None = None, data_map: list[dict] | None = None) -> dict:
    """The assessment of transferring ``contract``'s records (``counts``: rows per entity)."""
    approver = approver or contract.pipia_approver
    if not approver:
        raise PipiaError("the PIPIA names no approver: set transfer.pipia.approver in the contract or give one")
    cats = categories(contract, counts)
    rated = risks(contract, cats, crossing)
    worst = max(rated, key=lambda r: r["likelihood"] * r["impact"])["rating"]
    return {
        "pipia_version": PIPIA_VERSION,
        "kind": "handover.pipia",
        "reference": reference_for(contract, reference),
        "drafted_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        **contract.summary(),
        "legal_basis": "PIPL Art. 22 (transfer of a business), Art. 55 (4) and 56",
        "purposes": list(contract.notice.purposes) if contract.notice else [],
        "recipient": contract.receiving_party.summary(),
        "cross_border": crossing,
        "categories": cats,
        "sensitive": {"entities": sorted(e for e in SENSITIVE_ENTITIES if e in contract.entities),
                      "rows": sum(c["rows"] for c in cats if c["sensitive"])},
        "measures": measures(contract),
        "data_map": data_map or [],
        "risks": rated,
        "overall": worst,
        "approver": approver,
        "retention": {"class": RETENTION_CLASS, "keep": str(MINIMUM_KEEP), "after": "decided"},
    }


def dumps(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8") + b"\n"


def write(record: dict, folder: Path, signing_key) -> dict:
    """``pipia.json``, its signature and public key, and ``pipia.html``; returns what control records."""
    from handover.crypto import fingerprint, public_pem, sign

    folder.mkdir(parents=True, exist_ok=True)
    data = dumps(record)
    pem = public_pem(signing_key)
    signature = sign(signing_key, data)
    for name, content in (("pipia.pub.pem", pem), ("pipia.json.sig", signature.encode() + b"\n"),
                          ("pipia.json", data), ("pipia.html", render_html(record).encode("utf-8"))):
        tmp = folder / (name + ".part")
        tmp.write_bytes(content)
        tmp.replace(folder / name)
    return {"path": str(folder / "pipia.json"), "sha256": hashlib.sha256(data).hexdigest(), "text": data.decode(),
            "signature": signature, "public_key": pem.decode(), "fingerprint": fingerprint(pem)}


def keep_until(decided: dt.date, keep: Duration | None = None) -> dt.date:
    keep = keep or MINIMUM_KEEP
    if keep.after(dt.date(2000, 1, 1)) < MINIMUM_KEEP.after(dt.date(2000, 1, 1)):
        raise PipiaError(f"a PIPIA is kept at least {MINIMUM_KEEP} (PIPL Art. 56), not {keep}")
    return keep.after(decided)


def record(conn, draft_record: dict, written: dict) -> None:
    """The draft in ``control.pipia``; a decided PIPIA is never drafted again (a new one gets a new reference)."""
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM control.pipia WHERE reference = %s", (draft_record["reference"],))
        row = cur.fetchone()
        if row and row[0] != "drafted":
            conn.rollback()
            raise PipiaError(f"PIPIA {draft_record['reference']} was {row[0]} already: a new assessment needs a "
                             "new reference")
        cur.execute("""
            INSERT INTO control.pipia (reference, branch_id, contract_sha256, record, text, sha256, signature,
                public_key, signer_fingerprint, approver, overall, keep_until)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (reference) DO UPDATE SET contract_sha256 = EXCLUDED.contract_sha256,
                record = EXCLUDED.record, text = EXCLUDED.text, sha256 = EXCLUDED.sha256,
                signature = EXCLUDED.signature, public_key = EXCLUDED.public_key,
                signer_fingerprint = EXCLUDED.signer_fingerprint, approver = EXCLUDED.approver,
                overall = EXCLUDED.overall, drafted_at = clock_timestamp()
        """, (draft_record["reference"], draft_record["branch"]["id"], draft_record["contract_sha256"],
              written["text"], written["text"], written["sha256"], written["signature"], written["public_key"],
              written["fingerprint"], draft_record["approver"], draft_record["overall"],
              keep_until(dt.date.today())))
    conn.commit()


def source_counts(contract, source_dir: str | Path | None = None) -> dict[str, int]:
    """Rows per entity as the export holds them (a CSV's lines after its header; 0 where not counted) — for a
    draft before any run; a run's own counts (:func:`run_counts`) are better."""
    from handover.sources import inspect_source

    counts = {}
    for name, spec in contract.entities.items():
        if spec.source.format == "table":
            counts[name] = 0
            continue
        info = inspect_source(spec, contract.source_dir(source_dir))
        counts[name] = max((info.lines or 1) - 1, 0)
    return counts


def run_counts(conn, branch_id: str) -> dict[str, int] | None:
    """Source rows per entity of the branch's latest run that counted them (a dry run will do)."""
    with conn.cursor() as cur:
        cur.execute("SELECT counts FROM ops.runs WHERE branch_id = %s AND counts IS NOT NULL "
                    "ORDER BY started_at DESC LIMIT 1", (branch_id,))
        row = cur.fetchone()
    conn.rollback()
    if not row or not isinstance(row[0], dict):
        return None
    return {e: int(c.get("source_rows", 0)) for e, c in row[0].items() if isinstance(c, dict)}


def assess(conn, contract, folder: Path, signing_key, *, counts: dict[str, int], crossing: dict,
           approver: str | None = None, reference: str | None = None, actor: str = "handover") -> dict:
    """Draft the PIPIA, sign and write it into ``folder``, record it in ``control.pipia`` (and the audit)."""
    from handover import lineage
    from handover.store import ops

    drafted = draft(contract, counts, crossing=crossing, approver=approver, reference=reference,
                    data_map=lineage.data_map(contract))
    written = write(drafted, folder / drafted["reference"].replace("/", "_"), signing_key)
    record(conn, drafted, written)
    ops.audit(conn, "pipia.drafted", run_id=None, branch_id=contract.branch_id, actor=actor,
              reference=drafted["reference"], sha256=written["sha256"], overall=drafted["overall"])
    return {"reference": drafted["reference"], "overall": drafted["overall"], "approver": drafted["approver"],
            "path": written["path"], "sha256": written["sha256"],
            "risks": {r["risk"]: r["rating"] for r in drafted["risks"]}}


def decide(conn, reference: str, decision: str, *, by: str, at: dt.datetime | None = None,
           note: str | None = None, via: str = "cli") -> dict:
    """Record the named approver's decision (who, when, how); anyone else's is refused."""
    from handover.store import ops

    if decision not in DECISIONS:
        raise PipiaError(f"a decision is one of {', '.join(DECISIONS)}")
    at = at or dt.datetime.now(dt.UTC)
    with conn.cursor() as cur:
        cur.execute("SELECT branch_id, approver, status, sha256 FROM control.pipia WHERE reference = %s FOR UPDATE",
                    (reference,))
        row = cur.fetchone()
        if row is None:
            conn.rollback()
            raise PipiaError(f"no PIPIA {reference} in this store: draft it first (DAG transfer_assessment, or "
                             "`handover pipia draft`)")
        branch_id, approver, status, sha256 = row
        if status != "drafted":
            conn.rollback()
            raise PipiaError(f"PIPIA {reference} was {status} already")
        if by.strip() != approver.strip():
            conn.rollback()
            raise PipiaError(f"PIPIA {reference} names its approver; a decision by someone else is not recorded")
        cur.execute("UPDATE control.pipia SET status = %s, decided_by = %s, decided_at = %s, decision_note = %s, "
                    "decided_via = %s, keep_until = %s WHERE reference = %s",
                    (decision, by, at, note, via, keep_until(at.date()), reference))
    conn.commit()
    ops.audit(conn, f"pipia.{decision}", run_id=None, branch_id=branch_id, actor=by, reference=reference,
              sha256=sha256, via=via)
    return {"reference": reference, "status": decision, "decided_by": by, "decided_at": at.isoformat()}


def require_approved(conn, reference: str | None, branch_id: str) -> dict:
    """The approved PIPIA ``reference`` of ``branch_id``, or :class:`PipiaError` saying what to do."""
    if not reference:
        raise PipiaError(f"no impact assessment is named for branch {branch_id}: a transfer to another handler "
                         "needs an approved PIPIA (PIPL Art. 55): set transfer.pipia.reference in the contract or "
                         "trigger with pipia=<reference>, after DAG transfer_assessment has it approved "
                         "(a dry run needs none)")
    with conn.cursor() as cur:
        cur.execute("SELECT branch_id, status, decided_by, decided_at, sha256, overall FROM control.pipia "
                    "WHERE reference = %s", (reference,))
        row = cur.fetchone()
    conn.rollback()
    if row is None:
        raise PipiaError(f"PIPIA {reference} is not in this store: draft it and have it approved (DAG "
                         "transfer_assessment), then run again")
    found_branch, status, by, at, sha256, overall = row
    if found_branch != branch_id:
        raise PipiaError(f"PIPIA {reference} assesses branch {found_branch}, not {branch_id}")
    if status != "approved":
        raise PipiaError(f"PIPIA {reference} is {status}, not approved: nothing is loaded until its approver "
                         "approves it")
    return {"reference": reference, "approved_by": by, "approved_at": at.isoformat(), "sha256": sha256,
            "overall": overall}


def approved_for(conn, branch_id: str) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute("SELECT reference, status, decided_by, decided_at, overall, keep_until FROM control.pipia "
                    "WHERE branch_id = %s ORDER BY drafted_at", (branch_id,))
        rows = cur.fetchall()
    conn.rollback()
    return [dict(zip(("reference", "status", "decided_by", "decided_at", "overall", "keep_until"), r, strict=True))
            for r in rows]


# -- the bilingual page ------------------------------------------------------------------------------------

TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>个人信息保护影响评估 · PIPIA — {{ r.reference }}</title>
<style>
 body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222;max-width:70em}
 h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
 table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}
 th{background:#f3f3f3} td.n{text-align:right} .en{color:#555} .high{color:#b00;font-weight:bold}
 .medium{color:#a60} .low{color:#270} .sign td{height:3em;width:20em}
</style></head><body>
<h1>个人信息保护影响评估报告 <span class="en">Personal information protection impact assessment</span></h1>
<table>
<tr><th>编号 <span class="en">Reference</span></th><td>{{ r.reference }}</td></tr>
<tr><th>网点 <span class="en">Branch</span></th><td>{{ r.branch.id }} {{ r.branch.name }}</td></tr>
<tr><th>个人信息处理者 <span class="en">Transferring party</span></th><td>{{ r.transferring_party.name }}</td></tr>
<tr><th>接收方 <span class="en">Recipient</span></th><td>{{ r.recipient.name }} ({{ r.recipient.uscc or "—" }})</td></tr>
<tr><th>法律依据 <span class="en">Legal basis</span></th><td>{{ r.legal_basis }}</td></tr>
<tr><th>数据所在地 <span class="en">Jurisdiction</span></th><td>{{ r.cross_border.source }} → {{ r.cross_border.target }}{% if r.cross_border.cross_border %} · 出境批准 <span class="en">approval</span> {{ r.cross_border.approval }}{% else %} · 未出境 <span class="en">not cross-border</span>{% endif %}</td></tr>
<tr><th>总体风险 <span class="en">Overall risk</span></th><td class="{{ r.overall }}">{{ levels[r.overall] }} {{ r.overall }}</td></tr>
<tr><th>审批人 <span class="en">Approver</span></th><td>{{ r.approver }}</td></tr>
<tr><th>保存 <span class="en">Kept</span></th><td>{{ r.retention.keep }}（决定后 <span class="en">after the decision</span>）</td></tr>
</table>
<h2>处理目的 <span class="en">Purposes</span></h2><ul>{% for p in r.purposes %}<li>{{ p }}</li>{% else %}<li>—</li>{% endfor %}</ul>
<h2>个人信息类别与数量 <span class="en">Categories and counts</span></h2>
<table><tr><th>实体 <span class="en">Entity</span></th><th>记录数 <span class="en">Records</span></th><th>直接标识 <span class="en">Direct</span></th><th>准标识 <span class="en">Quasi</span></th><th>敏感 <span class="en">Sensitive</span></th></tr>
{% for c in r.categories %}<tr><td>{{ c.entity }}</td><td class="n">{{ c.rows }}</td><td>{{ (c.columns.direct or []) | join(", ") }}</td><td>{{ (c.columns.quasi or []) | join(", ") }}</td><td>{{ "整表 whole entity" if "*" in c.sensitive else (c.sensitive | join(", ") or "—") }}</td></tr>
{% endfor %}</table>
<p>敏感个人信息记录 <span class="en">Records with sensitive personal information</span>: {{ r.sensitive.rows }}</p>
<h2>数据流向 <span class="en">Data map</span></h2>
<table><tr><th>从 <span class="en">From</span></th><th>到 <span class="en">To</span></th><th>内容 <span class="en">What</span></th></tr>
{% for f in r.data_map %}<tr><td>{{ f.source }}</td><td>{{ f.target }}</td><td>{{ f.what }}</td></tr>{% else %}<tr><td colspan="3">—</td></tr>{% endfor %}</table>
<h2>保护措施 <span class="en">Measures in force</span></h2>
<table>{% for k, v in r.measures.items() if k != "retention" %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
<tr><th>retention</th><td>{% for name, c in r.measures.retention.items() %}{{ name }}: {{ c.keep }} after {{ c.after }}{% if c.basis %} ({{ c.basis }}){% endif %}<br>{% endfor %}</td></tr></table>
<h2>风险评级 <span class="en">Risks rated</span></h2>
<table><tr><th>风险</th><th class="en">Risk</th><th>可能性 <span class="en">Likelihood</span></th><th>影响 <span class="en">Impact</span></th><th>等级 <span class="en">Rating</span></th><th>措施 <span class="en">Mitigation</span></th></tr>
{% for x in r.risks %}<tr><td>{{ x.zh }}</td><td class="en">{{ x.en }}</td><td class="n">{{ x.likelihood }}</td><td class="n">{{ x.impact }}</td><td class="{{ x.rating }}">{{ levels[x.rating] }} {{ x.rating }}</td><td>{{ x.mitigation }}</td></tr>
{% endfor %}</table>
<h2>审批 <span class="en">Approval</span></h2>
<table class="sign"><tr><th>审批人 <span class="en">Approver</span></th><td>{{ r.approver }}</td><th>日期 <span class="en">Date</span></th><td></td></tr></table>
<p class="en">Names, counts and ratings only — no customer value. Signed with Ed25519 (pipia.json.sig).</p>
</body></html>
"""


def render_html(record: dict) -> str:
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(TEMPLATE).render(r=record, levels={"low": "低", "medium": "中", "high": "高"})
