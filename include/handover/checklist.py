"""The human-readable handover checklist (交接清单), in Chinese and English, rendered from a manifest.

One self-contained HTML page: the transfer's parties and agreements, the files received with their
SHA-256, every entity's counts by disposition, why rows were quarantined or excluded, the content hashes
of the loaded tables, what each party must still do, and where each signs. Names, hashes and counts
only — never a customer value.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, select_autoescape

from handover.reasons import describe

TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>网点转让数据交接清单 · Branch transfer handover checklist — {{ m.branch.id }}</title>
<style>
 body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222;max-width:70em}
 h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
 table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}
 th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums} .en{color:#555}
 .bad{color:#b00;font-weight:bold} code{font-size:.85em;word-break:break-all} .sign td{height:3em;width:20em}
</style></head><body>
<h1>网点转让数据交接清单 <span class="en">Branch transfer handover checklist</span></h1>
<table>
<tr><th>网点 <span class="en">Branch</span></th><td>{{ m.branch.id }} {{ m.branch.name }}</td></tr>
<tr><th>转让方 <span class="en">Transferring party</span></th><td>{{ m.transferring_party.name }} ({{ m.transferring_party.uscc or "—" }})</td></tr>
<tr><th>受让方 <span class="en">Receiving party</span></th><td>{{ m.receiving_party.name }} ({{ m.receiving_party.uscc or "—" }}){% if m.recipient.received_by %}; 接收人 <span class="en">received by</span>: {{ m.recipient.received_by }}{% endif %}</td></tr>
<tr><th>转让协议 / 保密协议 <span class="en">Agreements</span></th><td>{{ m.agreement.transfer }} / {{ m.agreement.confidentiality }}</td></tr>
<tr><th>数据所在地 <span class="en">Jurisdiction</span></th><td>{{ m.cross_border.source }} → {{ m.cross_border.target }}{% if m.cross_border.cross_border %} · 跨境传输批准 <span class="en">cross-border approval</span>: <b>{{ m.cross_border.approval }}</b>{% else %} · 未跨境 <span class="en">not cross-border</span>{% endif %}</td></tr>
<tr><th>运行 <span class="en">Run</span></th><td>{{ m.run_id }} · {{ m.mode }} · {{ m.generated_at }}</td></tr>
<tr><th>清单哈希 <span class="en">Manifest SHA-256</span></th><td><code>{{ manifest_sha256 }}</code></td></tr>
<tr><th>签名公钥指纹 <span class="en">Signer fingerprint</span></th><td><code>{{ fingerprint }}</code></td></tr>
<tr><th>合同哈希 <span class="en">Contract SHA-256</span></th><td><code>{{ m.contract_sha256 }}</code></td></tr>
</table>

<h2>数量核对 <span class="en">Reconciliation</span></h2>
<table><tr><th>实体 <span class="en">Entity</span></th><th>源记录 <span class="en">Source</span></th><th>已迁移 <span class="en">Loaded</span></th><th>隔离 <span class="en">Quarantined</span></th><th>排除 <span class="en">Excluded</span></th><th>重复合并 <span class="en">Duplicates</span></th><th>平衡 <span class="en">Balanced</span></th></tr>
{% for e, c in counts %}<tr><td>{{ e }}</td><td class="n">{{ c.source_rows }}</td><td class="n">{{ c.loaded }}</td><td class="n">{{ c.quarantined }}</td><td class="n">{{ c.excluded }}</td><td class="n">{{ c.duplicates }}</td><td>{% if c.balanced %}✓{% else %}<span class="bad">✗</span>{% endif %}</td></tr>
{% endfor %}</table>

<h2>隔离与排除原因 <span class="en">Why rows were quarantined or excluded</span></h2>
<table><tr><th>实体 <span class="en">Entity</span></th><th>原因 <span class="en">Reason</span></th><th>说明</th><th class="en">Meaning</th><th>记录数 <span class="en">Rows</span></th></tr>
{% for e, code, zh, en, n in reasons %}<tr><td>{{ e }}</td><td><code>{{ code }}</code></td><td>{{ zh }}</td><td class="en">{{ en }}</td><td class="n">{{ n }}</td></tr>
{% else %}<tr><td colspan="5">无 <span class="en">none</span></td></tr>{% endfor %}</table>

<h2>带字段问题迁移的记录 <span class="en">Rows loaded with a field issue</span></h2>
<p>按合同各列的 <code>on_invalid</code>：值被置空（null）或按原文保留（keep），记录照常迁移。<br><span class="en">As each column's <code>on_invalid</code> says: the value was set to null or kept as written, and the row was loaded.</span></p>
<table><tr><th>实体 <span class="en">Entity</span></th><th>列 <span class="en">Column</span></th><th>原因 <span class="en">Reason</span></th><th>说明</th><th class="en">Meaning</th><th>记录数 <span class="en">Rows</span></th></tr>
{% for e, column, code, zh, en, n in issues %}<tr><td>{{ e }}</td><td>{{ column }}</td><td><code>{{ code }}</code></td><td>{{ zh }}</td><td class="en">{{ en }}</td><td class="n">{{ n }}</td></tr>
{% else %}<tr><td colspan="6">无 <span class="en">none</span></td></tr>{% endfor %}</table>

{% if m.resend and (m.resend.withdrawn.customers or m.resend.absent.customers) %}<h2>再次提交的导出 <span class="en">A re-sent export</span></h2>
<table>
<tr><th>此前已迁移、现撤回同意的客户 <span class="en">Customers loaded before, consent now withdrawn</span></th><td class="n">{{ m.resend.withdrawn.customers }}</td><td>分析层数据已删除；库内数据按保存期限表删除{% if m.resend.withdrawn.erasure_requests %}（删除请求：{% for state, n in m.resend.withdrawn.erasure_requests.by_state.items() %}{{ state }} {{ n }} {% endfor %}）{% endif %}<br><span class="en">analytics rows removed; vault rows erased under the retention schedule</span></td></tr>
<tr><th>此前已迁移、本次导出中没有的客户 <span class="en">Customers loaded before, absent from this export</span></th><td class="n">{{ m.resend.absent.customers }}</td><td>合同决定 <span class="en">contract decides</span>: <b>{{ m.resend.absent.decision }}</b>；客户编号见清单文件 <span class="en">customer numbers in the manifest</span></td></tr>
</table>{% endif %}

<h2>接收的文件 <span class="en">Files received</span></h2>
<table><tr><th>文件 <span class="en">File</span></th><th>字节 <span class="en">Bytes</span></th><th>物理行数 <span class="en">Lines</span></th><th>编码 <span class="en">Encoding</span></th><th>SHA-256</th></tr>
{% for s in m.sources %}<tr><td>{{ s.file }}</td><td class="n">{{ s.bytes }}</td><td class="n">{{ s.lines if s.lines is not none else "—" }}</td><td>{{ s.encoding or ("xlsx · " ~ s.sheet) }}</td><td><code>{{ s.sha256 }}</code></td></tr>
{% endfor %}</table>
<p>原件已加密归档 <span class="en">Originals archived encrypted</span>: {{ m.archive | length }} 个文件 <span class="en">files</span>.</p>

{% if m.content %}<h2>已迁移数据的内容哈希 <span class="en">Content hashes of the loaded tables</span></h2>
<table><tr><th>表 <span class="en">Table</span></th><th>行数 <span class="en">Rows</span></th><th>SHA-256</th></tr>
{% for e, h in m.content.items() %}<tr><td>vault.{{ e }}</td><td class="n">{{ h.rows }}</td><td><code>{{ h.sha256 }}</code></td></tr>
{% endfor %}</table>{% endif %}

<h2>待办事项 <span class="en">What each party must still do</span></h2>
<h3>转让方 <span class="en">Transferring party</span></h3><ol>
{% if quarantined %}<li>修复 {{ quarantined }} 条被隔离的记录并重新提交（原因见上表）。<br><span class="en">Repair the {{ quarantined }} quarantined records and send them again (reasons above).</span></li>{% endif %}
{% if excluded %}<li>确认 {{ excluded }} 条未获同意的记录不在交付范围内，并按协议处理其留存。<br><span class="en">Confirm that the {{ excluded }} records without consent are not handed over, and deal with their retention as agreed.</span></li>{% endif %}
<li>将签名公钥指纹通过独立渠道告知受让方。<br><span class="en">Give the receiving party the signer fingerprint through a separate channel.</span></li>
<li>在下方签字确认交付。<br><span class="en">Sign below to confirm the handover.</span></li></ol>
<h3>受让方 <span class="en">Receiving party</span></h3><ol>
<li>用 <code>handover manifest verify manifest.json --fingerprint &lt;指纹&gt; --dsn &lt;连接&gt;</code> 校验签名、数量与内容哈希。<br><span class="en">Check the signature, counts and content hashes with the command above.</span></li>
<li>依《个人信息保护法》第十七条、第二十二条，向全部 {{ m.counts.customers.loaded if m.counts.customers else 0 }} 位已迁移客户告知接收方的名称和联系方式{% if m.receiving_party.phone %}（{{ m.receiving_party.phone }}{% if m.receiving_party.email %}，{{ m.receiving_party.email }}{% endif %}）{% endif %}及处理目的、方式、种类、保存期限和权利行使方式：DAG <code>customer_notice</code> 逐一告知并记录每位客户的结果（送达、退回、改寄信函或公告）。<br><span class="en">Notify all {{ m.counts.customers.loaded if m.counts.customers else 0 }} transferred customers of the recipient's name and contact details, and of the purposes, methods, categories, retention and how to exercise their rights (PIPL Art. 22 and Art. 17): the <code>customer_notice</code> DAG tells each and records the outcome (delivered, bounced, by letter or by announcement).</span></li>
<li>按保密协议 {{ m.agreement.confidentiality }} 及各字段的保留类别保管数据。<br><span class="en">Keep the data under confidentiality agreement {{ m.agreement.confidentiality }} and each field's retention class.</span></li>
{% if excluded %}<li>不得使用或保留被排除客户的数据。<br><span class="en">Do not use or keep data of excluded customers.</span></li>{% endif %}
{% if m.resend and m.resend.absent.customers and m.resend.absent.decision == "report" %}<li>与转让方确认 {{ m.resend.absent.customers }} 名未出现在本次导出中的已迁移客户（销户、迁出或遗漏），并决定保留或删除。<br><span class="en">Settle with the transferring party the {{ m.resend.absent.customers }} customers loaded before but absent from this export (closed, moved or left out), and decide to keep or erase them.</span></li>{% endif %}
<li>在下方签字确认接收。<br><span class="en">Sign below to confirm receipt.</span></li></ol>

<h2>签字 <span class="en">Signatures</span></h2>
<table class="sign"><tr><th>转让方 <span class="en">Transferring party</span></th><th>受让方 <span class="en">Receiving party</span></th></tr>
<tr><td></td><td></td></tr><tr><td>日期 <span class="en">Date</span>:</td><td>日期 <span class="en">Date</span>:</td></tr></table>
</body></html>
"""


def render(manifest: dict, manifest_sha256: str, fingerprint: str) -> str:
    from handover.canonical import ENTITIES

    order = [e for e in ENTITIES if e in manifest["counts"]]
    counts = [(e, manifest["counts"][e]) for e in order]
    reasons = [(e, code, *describe(code), n) for e in order
               for code, n in sorted(manifest["counts"][e].get("reasons", {}).items())]
    issues = []
    for e in order:
        for item, n in sorted(manifest["counts"][e].get("field_issues", {}).items()):
            column, _, code = item.partition(":")
            issues.append((e, column, code, *describe(code), n))
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(TEMPLATE).render(
        m=manifest, counts=counts, reasons=reasons, issues=issues, manifest_sha256=manifest_sha256,
        fingerprint=fingerprint,
        quarantined=sum(c["quarantined"] for _, c in counts), excluded=sum(c["excluded"] for _, c in counts))


def write(manifest: dict, manifest_sha256: str, fingerprint: str, folder: Path) -> Path:
    path = Path(folder) / "checklist.html"
    path.write_text(render(manifest, manifest_sha256, fingerprint), encoding="utf-8")
    return path
