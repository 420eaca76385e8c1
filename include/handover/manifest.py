"""The handover manifest (交接清单, machine-readable): the record of one transfer both parties can check.

Canonical JSON (sorted keys, UTF-8). Written to ``ops.manifests`` and to the run's output folder as
``manifest.json``, signed with Ed25519 (``manifest.json.sig``, base64 over the file's exact bytes), with
the public key beside it (``manifest.pub.pem``). It holds names, hashes and counts — never a customer
value. `verify` checks a manifest without Airflow: the signature, that its signer is the one the receiving
party was told of (a pinned fingerprint, or a public key it trusts — else the manifest is not verified), and
— given a connection — the content hashes of the loaded tables in the target store; what it did not check
it names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from handover.errors import HandoverError

# 2: the content hashes are of version 2 (`handover.store.content`), named by ``content_hash_version``; a
# manifest of version 1 has none of it and its hashes are of version 1 — both are verified.
MANIFEST_VERSION = 2


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
    from handover.store.content import VERSION as CONTENT_HASH_VERSION

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
        "content_hash_version": CONTENT_HASH_VERSION,
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


class ManifestError(HandoverError):
    """A manifest, signature or key file that cannot be read as one: nothing about the manifest is verified."""


def _read(path: Path, what: str, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{what} {path}: no such file" + (f" (give it with {flag})" if flag else "")) from None
    except IsADirectoryError:
        raise ManifestError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise ManifestError(f"{what} {path} cannot be read ({exc.strerror or type(exc).__name__})") from None


def _text(data: bytes, path: Path, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None


def _public_key(path: Path, what: str, flag: str) -> tuple[bytes, str]:
    """An Ed25519 public key's PEM and its fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from handover.crypto import fingerprint

    pem = _read(path, what, flag)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ManifestError(f"{what} {path} is not a public key in PEM") from None
    except Exception as exc:  # noqa: BLE001 — cryptography's UnsupportedAlgorithm and kin: all one here
        raise ManifestError(f"{what} {path} is not a usable public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"{what} {path} is not an Ed25519 key (manifests are signed with Ed25519)")
    return pem, fingerprint(pem)


def _document(data: bytes, path: Path) -> dict:
    try:
        doc = json.loads(_text(data, path, "the manifest"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"the manifest {path} is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"the manifest {path} is not a JSON object")
    return doc


def _hex(text: str | None) -> str | None:
    return None if text is None else text.strip().lower().replace(":", "")


def verify(path: Path, *, signature: Path | None = None, public_key: Path | None = None,
           trusted_key: Path | None = None, expect_fingerprint: str | None = None,
           conn=None) -> tuple[bool, list[str]]:
    """Check a manifest: its signature, who signed it, and — given a connection — the content hashes against
    the target store. Returns (verified, report lines); every part not checked is named, and it is verified
    only when the signer is known: ``expect_fingerprint`` (the one the transferring party gave) or
    ``trusted_key`` (a public key the caller trusts). The key beside the manifest (or ``public_key``) proves
    only that nothing changed by accident: whoever changes a manifest can sign it again and put their key
    there. A file that cannot be read as what it should be raises :class:`ManifestError` (why, and which)."""
    from handover.crypto import verify_signature

    path = Path(path)
    data = _read(path, "the manifest", "")
    sig_path = Path(signature) if signature else path.with_name(path.name + ".sig")
    signature_text = _text(_read(sig_path, "the signature", "--signature"), sig_path, "the signature").strip()
    if trusted_key:
        pem, signer = _public_key(Path(trusted_key), "the trusted key", "--trusted-key")
    else:
        pub_path = Path(public_key) if public_key else path.with_name("manifest.pub.pem")
        pem, signer = _public_key(pub_path, "the public key", "--public-key")
    manifest = _document(data, path)
    lines: list[str] = []
    ok = True
    if verify_signature(pem, data, signature_text):
        lines.append(f"signature: valid (signer {signer})")
    else:
        ok = False
        lines.append("signature: INVALID — the manifest is not the one that was signed"
                     + (" by the trusted key" if trusted_key else ""))
    pinned = _hex(expect_fingerprint)
    if pinned and pinned != signer:
        ok = False
        lines.append(f"signer: NOT the pinned fingerprint (manifest signed by {signer})")
    elif pinned or trusted_key:
        lines.append("signer: the pinned fingerprint" if pinned else f"signer: the trusted key {trusted_key}")
    else:
        ok = False
        lines.append(f"signer: unknown — {signer} is the key beside the manifest, which whoever changed it could "
                     "have replaced: give --fingerprint (the one the transferring party gave you) or "
                     "--trusted-key (their public key, obtained apart from the manifest)")
    if conn is None:
        lines.append("store: not compared — no --dsn")
    else:
        compared_ok, compared = _compare(manifest, conn)
        ok = ok and compared_ok
        lines += compared
    return ok, lines


def _compare(manifest: dict, conn) -> tuple[bool, list[str]]:
    """The manifest's content hashes against the target store: (all match, report lines)."""
    from handover.canonical import ENTITIES
    from handover.store.content import VERSIONS, content_hash

    content = manifest.get("content")
    version = manifest.get("content_hash_version", 1)  # a version-1 manifest does not name it
    branch = manifest.get("branch")
    branch_id = branch.get("id") if isinstance(branch, dict) else None
    if not content:
        if manifest.get("mode") == "dry_run":
            return True, ["content hashes: not checked — the manifest has none (a dry run loads nothing)"]
        return False, [("content hashes: not checked — the manifest has none, though it is not a dry run's: "
                        "the store cannot be compared with it")]
    if not isinstance(content, dict) or not isinstance(branch_id, str):
        return False, [("content hashes: not checked — the manifest's content or branch.id is not what a "
                        "manifest holds")]
    if version not in VERSIONS or isinstance(version, bool):
        return False, [(f"content hashes: not checked — version {str(version)[:20]} is not one this verifier "
                        f"knows ({', '.join(map(str, VERSIONS))}): use a newer handover")]
    ok, lines = True, []
    for entity, promised in content.items():
        if entity not in ENTITIES or not isinstance(promised, dict) or not {"rows", "sha256"} <= set(promised):
            ok = False
            lines.append(f"{str(entity)[:40]}: not checked — not an entity's content hash")
            continue
        found = content_hash(conn, entity, branch_id, version)
        if found == {"rows": promised["rows"], "sha256": promised["sha256"]}:
            lines.append(f"{entity}: {found['rows']} rows, content hash matches")
        else:
            ok = False
            lines.append(f"{entity}: MISMATCH — manifest {promised['rows']} rows {str(promised['sha256'])[:16]}…, "
                         f"target {found['rows']} rows {(found['sha256'] or '')[:16]}…")
    counted = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    for entity, counts in counted.items():
        if entity not in content and isinstance(counts, dict) and counts.get("loaded"):
            ok = False
            lines.append(f"{str(entity)[:40]}: content hash: not checked — the manifest has none for it, though "
                         "it counts rows loaded")
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
