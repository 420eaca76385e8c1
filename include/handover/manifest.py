"""The handover manifest: a machine-readable record of one transfer that both parties can check.

Canonical JSON (sorted keys, UTF-8) so its SHA-256 is stable; written to ``ops.manifests`` and to the
run's output folder. It holds names, hashes and counts — never a customer value.
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
          validation: dict, schema_fingerprint: str) -> dict:
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": "handover.branch_transfer",
        "run_id": run_id,
        "mode": mode,
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        **contract_summary,
        "sources": sources,
        "counts": counts,
        "validation": validation,
        "target_schema": schema_fingerprint,
    }


def dumps(manifest: dict) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8") + b"\n"


def write(manifest: dict, folder: Path) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    data = dumps(manifest)
    path = folder / "manifest.json"
    tmp = path.with_suffix(".json.part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path, hashlib.sha256(data).hexdigest()


def render_reconciliation(manifest: dict) -> str:
    """The reconciliation as a plain table for a terminal."""
    head = f"{'entity':<14}{'source':>9}{'loaded':>9}{'quarant.':>10}{'excluded':>10}{'dupl.':>7}  balanced"
    lines = [f"branch {manifest['branch']['id']} ({manifest['mode']}), run {manifest['run_id']}", head]
    for entity, c in manifest["counts"].items():
        lines.append(f"{entity:<14}{c['source_rows']:>9}{c['loaded']:>9}{c['quarantined']:>10}"
                     f"{c['excluded']:>10}{c['duplicates']:>7}  {'yes' if c['balanced'] else 'NO'}")
        if c["reasons"]:
            lines.append(" " * 14 + "reasons: " + ", ".join(f"{k} {v}" for k, v in c["reasons"].items()))
    return "\n".join(lines)
