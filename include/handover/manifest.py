"""The handover manifest (交接清单, machine-readable): the record of one transfer both parties can check.

Canonical JSON (sorted keys, UTF-8). Written to ``ops.manifests`` and to the run's output folder as
``manifest.json``, signed with Ed25519 (``manifest.json.sig``, base64 over the file's exact bytes), with
the public key beside it (``manifest.pub.pem``). It holds names, hashes and counts — never a customer
value. `verify` checks a manifest without Airflow: the signature, the signer's fingerprint if pinned,
and — given a connection — the counts and content hashes of the loaded tables in the target store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

MANIFEST_VERSION = 1


def aggregate_validation(summaries: list[list[dict]]) -> dict[str, list[dict]]:
    """Sum per-chunk GX summaries into one line per expectation and entity."""
    out: dict[str, dict[tuple, dict]] = {}
    for entity, items in summaries:
        merged = out.setdefault(entity, {})
        for item in items:
            key = (item["expectation"], tuple(item["columns"]), item["reason"])
            m = merged.setdefault(key, {"expectation": item["expectation"], "columns": item["columns"],
                                        "reason": item["reason"], "evaluated": 0, "unexpected": 0,
                                        "success": True})
            m["evaluated"] += item["evaluated"]
            m["unexpected"] += item["unexpected"]
            m["success"] = m["success"] and item["success"]
    return {entity: list(items.values()) for entity, items in out.items()}


def build(*, run_id: str, mode: str, contract_summary: dict, sources: list[dict], counts: dict,
          validation: dict, schema_fingerprint: str, content: dict, archive: list[dict], jurisdiction: dict,
          recipient: str | None, analytics: dict | None = None, resend: dict | None = None) -> dict:
    """The manifest. ``analytics``: what the analytics tier reports (k-anonymity: counts only); ``resend``:
    what a re-sent export decided about customers loaded before (`handover.resend`)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": "handover.branch_transfer",
        "run_id": run_id,
        "mode": mode,
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        **contract_summary,
        "recipient": {"party": contract_summary["receiving_party"], "received_by": recipient},
        "cross_border": jurisdiction,
        "sources": sources,
        "archive": archive,
        "counts": counts,
        "content": content,
        "validation": validation,
        "target_schema": schema_fingerprint,
        "analytics": analytics or {},
        "resend": resend or {},
    }


def dumps(manifest: dict) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8") + b"\n"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def write(manifest: dict, folder: Path, signing_key) -> dict:
    """Write the manifest, its signature and the public key; return what ops records of them."""
    from handover.crypto import fingerprint, public_pem, sign

    folder.mkdir(parents=True, exist_ok=True)
    data = dumps(manifest)
    pem = public_pem(signing_key)
    signature = sign(signing_key, data)
    path = folder / "manifest.json"
    _write(folder / "manifest.pub.pem", pem)
    _write(folder / "manifest.json.sig", signature.encode() + b"\n")
    _write(path, data)
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "text": data.decode("utf-8"),
            "signature": signature, "public_key": pem.decode(), "fingerprint": fingerprint(pem)}


def verify(path: Path, *, signature: Path | None = None, public_key: Path | None = None,
           expect_fingerprint: str | None = None, conn=None) -> tuple[bool, list[str]]:
    """Check a manifest. Returns (all good, report lines); never raises on a mismatch."""
    from handover.crypto import fingerprint, verify_signature

    path = Path(path)
    data = path.read_bytes()
    sig_path = Path(signature) if signature else path.with_name(path.name + ".sig")
    pub_path = Path(public_key) if public_key else path.with_name("manifest.pub.pem")
    lines: list[str] = []
    ok = True
    pem = pub_path.read_bytes()
    signer = fingerprint(pem)
    if verify_signature(pem, data, sig_path.read_text().strip()):
        lines.append(f"signature: valid (signer {signer})")
    else:
        ok = False
        lines.append("signature: INVALID — the manifest is not the one that was signed")
    if expect_fingerprint:
        if expect_fingerprint.lower().replace(":", "") == signer:
            lines.append("signer: the pinned fingerprint")
        else:
            ok = False
            lines.append(f"signer: NOT the pinned fingerprint (manifest signed by {signer})")
    else:
        lines.append("signer: not pinned — compare the fingerprint above with the one the transferring party gave you")
    manifest = json.loads(data)
    if conn is not None:
        from handover.store.content import content_hash

        for entity, promised in manifest.get("content", {}).items():
            found = content_hash(conn, entity, manifest["branch"]["id"])
            if found == promised:
                lines.append(f"{entity}: {found['rows']} rows, content hash matches")
            else:
                ok = False
                lines.append(f"{entity}: MISMATCH — manifest {promised['rows']} rows {promised['sha256'][:16]}…, "
                             f"target {found['rows']} rows {(found['sha256'] or '')[:16]}…")
    return ok, lines


def _entity_order(entity: str) -> int:
    from handover.canonical import ENTITIES

    return list(ENTITIES).index(entity) if entity in ENTITIES else len(ENTITIES)


def render_reconciliation(manifest: dict) -> str:
    """The reconciliation as a plain table for a terminal."""
    head = f"{'entity':<14}{'source':>9}{'loaded':>9}{'quarant.':>10}{'excluded':>10}{'dupl.':>7}  balanced"
    lines = [f"branch {manifest['branch']['id']} ({manifest['mode']}), run {manifest['run_id']}", head]
    for entity in sorted(manifest["counts"], key=_entity_order):
        c = manifest["counts"][entity]
        lines.append(f"{entity:<14}{c['source_rows']:>9}{c['loaded']:>9}{c['quarantined']:>10}"
                     f"{c['excluded']:>10}{c['duplicates']:>7}  {'yes' if c['balanced'] else 'NO'}")
        if c["reasons"]:
            lines.append(" " * 14 + "reasons: " + ", ".join(f"{k} {v}" for k, v in c["reasons"].items()))
    return "\n".join(lines)
