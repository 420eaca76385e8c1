"""The audit trail that shows tampering: ``ops.audit`` as a hash chain, signed checkpoints of its head, and
the check that finds an edited, deleted or inserted entry.

**The chain.** Every entry carries its place (``seq``), the previous entry's hash (``prev_hash``) and its own
(``hash``): SHA-256 over the previous hash and the entry's fields — place, time (microseconds since the
epoch), run, branch, actor, action, detail (PostgreSQL's text of the jsonb) — each length-prefixed
(``s<bytes>:<text>``, ``n`` for NULL), so no two different entries read alike. The store computes it (the
trigger ``ops.audit_chain``, under the row lock of ``ops.audit_head``: parallel tasks' entries chain one after
another); :func:`entry_hash` is the same rule here, and :func:`verify` recomputes every hash itself — it
trusts no function in the store.

**Checkpoints.** A chain alone does not stop the store's owner, who can rewrite every entry after the one
changed and recompute the hashes. So the head (place and hash) is signed with the manifests' Ed25519 key,
which the store never holds, after every backup (:func:`checkpoint`), recorded in
``control.audit_checkpoints`` and written beside the backups (``audit/<seq>-<hash>.json``, as the erasures'
tombstones are): a rewritten chain no longer meets its checkpoints.

**What verify finds.** An edited entry (its hash no longer its content's); a deleted one (a gap in the
places, or a checkpoint beyond the end); an inserted or reordered one (an entry that does not follow its
predecessor's hash; one without a place — written with the trigger disabled); a rewritten chain (an entry's
hash differs from a checkpoint's). A restore that rolled ``ops.audit`` back to a backup makes the
checkpoints taken after that backup and before the restore *superseded*: reported, not failed — the
``backup.restored`` entry in the chain says where the chain restarted.

Everything here is places, hashes and counts: never an entry's content in a report line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

GENESIS = bytes(32)
CHECKPOINT_KIND = "handover.audit_checkpoint"
PREFIX = "audit/"

_ROWS = ("SELECT seq, id, (extract(epoch FROM at) * 1000000)::bigint, run_id, branch_id, actor, action, "
         "detail::text, prev_hash, hash, at FROM ops.audit ORDER BY seq NULLS FIRST, id")


def _field(value) -> bytes:
    if value is None:
        return b"n"
    data = str(value).encode("utf-8", "surrogateescape")
    return b"s" + str(len(data)).encode() + b":" + data


def entry_hash(prev: bytes, seq: int, at_us: int, run_id: str | None, branch_id: str | None, actor: str,
               action: str, detail_text: str) -> bytes:
    """The hash of one entry, as ``ops.audit_entry_hash`` computes it in the store."""
    return hashlib.sha256(bytes(prev) + b"".join(_field(v) for v in (seq, at_us, run_id, branch_id, actor, action,
                                                                     detail_text))).digest()


@dataclass
class Verdict:
    ok: bool = True
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=lambda: {"edited": 0, "deleted": 0, "inserted": 0, "unchained": 0,
                                                  "checkpoints": 0, "checkpoints_matched": 0,
                                                  "checkpoints_superseded": 0, "checkpoints_failed": 0})

    def problem(self, kind: str, text: str, n: int = 1) -> None:
        self.ok = False
        self.counts[kind] = self.counts.get(kind, 0) + n
        if len(self.problems) < 50:  # a rewritten chain fails at every entry: the first ones say enough
            self.problems.append(text)


def _walk(conn, verdict: Verdict) -> tuple[dict[int, bytes], list[tuple[dt.datetime, int]], int, bytes]:
    """Every entry, in place order: each recomputed, each linked to its predecessor. Returns the stored hash at
    each place, the restores of ops.audit (their entry's time and the place the chain restarted after), the
    last place and its hash."""
    hashes: dict[int, bytes] = {}
    restores: list[tuple[dt.datetime, int]] = []
    last_seq, last_hash = 0, GENESIS
    with conn.cursor(name="audit_trail_walk") as cur:
        cur.itersize = 5000
        cur.execute(_ROWS)
        for seq, entry_id, at_us, run_id, branch_id, actor, action, detail, prev, stored, at in cur:
            verdict.entries += 1
            if seq is None or stored is None or prev is None:
                verdict.problem("unchained", f"entry id {entry_id} has no place in the chain: written with the "
                                "chain's trigger disabled (inserted by hand)")
                continue
            prev, stored = bytes(prev), bytes(stored)
            if seq != last_seq + 1:
                if seq > last_seq + 1:
                    verdict.problem("deleted", f"entries {last_seq + 1}–{seq - 1} are missing (deleted)",
                                    seq - last_seq - 1)
            elif prev != last_hash:
                verdict.problem("inserted", f"entry {seq} does not follow entry {last_seq}: an entry was inserted, "
                                "removed or reordered here")
            if entry_hash(prev, seq, at_us, run_id, branch_id, actor, action, detail) != stored:
                verdict.problem("edited", f"entry {seq} was changed after it was written (its hash is not its "
                                "content's)")
            if action == "backup.restored" and "ops.audit" in (json.loads(detail).get("tables") or []):
                restores.append((at, seq - 1))
            hashes[seq] = stored
            last_seq, last_hash = seq, stored
    conn.rollback()
    return hashes, restores, last_seq, last_hash


def _head(conn) -> tuple[int, bytes] | None:
    with conn.cursor() as cur:
        cur.execute("SELECT seq, hash FROM ops.audit_head")
        row = cur.fetchone()
    conn.rollback()
    return (row[0], bytes(row[1])) if row else None


def verify(conn, checkpoints: list[dict] = (), *, trusted: set[str] | None = None) -> Verdict:
    """The chain in the store ``conn`` reaches, recomputed from its first entry, against its head and the
    ``checkpoints`` (:func:`stored`, :func:`recorded`); a checkpoint counts only when its signature is valid
    and its signer's fingerprint is in ``trusted`` (the signing key's; None: every signer is reported as
    unknown and the checkpoint fails)."""
    from handover.crypto import fingerprint, verify_signature

    verdict = Verdict()
    hashes, restores, last_seq, last_hash = _walk(conn, verdict)
    head = _head(conn)
    if head is not None and head != (last_seq, last_hash) and head[0] >= last_seq:
        if head[0] > last_seq:
            verdict.problem("deleted", f"the chain's head says entry {head[0]} but the last is {last_seq}: entries "
                            "at the end were deleted", head[0] - last_seq)
        else:
            verdict.problem("edited", f"the chain's head does not hold entry {last_seq}'s hash")
    seen = set()
    for cp in checkpoints:
        key = (cp["seq"], cp["hash"])
        if key in seen:
            continue
        seen.add(key)
        verdict.counts["checkpoints"] += 1
        seq = int(cp["seq"])
        if not verify_signature(cp["public_key"].encode(), cp["text"].encode(), cp["signature"]):
            verdict.counts["checkpoints_failed"] += 1
            verdict.problem("checkpoints_bad", f"checkpoint at entry {seq}: its signature is INVALID")
            continue
        signer = fingerprint(cp["public_key"].encode())
        if trusted is None or signer not in trusted:
            verdict.counts["checkpoints_failed"] += 1
            verdict.problem("checkpoints_bad", f"checkpoint at entry {seq}: signed by an unknown key "
                            f"({signer[:16]}…)")
            continue
        taken = dt.datetime.fromisoformat(cp["taken_at"])
        if any(at > taken and seq > restarted for at, restarted in restores):
            verdict.counts["checkpoints_superseded"] += 1
            continue
        found = hashes.get(seq)
        if found is None:
            verdict.counts["checkpoints_failed"] += 1
            verdict.problem("deleted", f"checkpoint at entry {seq}: the entry is gone (the chain ends at "
                            f"{last_seq}): entries were deleted", 0)
        elif found.hex() != cp["hash"]:
            verdict.counts["checkpoints_failed"] += 1
            verdict.problem("rewritten", f"checkpoint at entry {seq}: the chain's hash there differs from the signed "
                            "one — the entries up to it were rewritten")
        else:
            verdict.counts["checkpoints_matched"] += 1
    verdict.lines = [f"audit trail: {verdict.entries} entries, the chain "
                     + ("intact" if verdict.ok else "BROKEN"),
                     (f"checkpoints: {verdict.counts['checkpoints']} "
                     f"({verdict.counts['checkpoints_matched']} matched, "
                     f"{verdict.counts['checkpoints_superseded']} superseded by a restore, "
                     f"{verdict.counts['checkpoints_failed']} failed)")] + verdict.problems
    return verdict


# -- checkpoints ------------------------------------------------------------------------------------------

def checkpoint(conn, signing_key, dest=None) -> dict:
    """Sign the chain's head now; record it in ``control.audit_checkpoints`` and, given a backup destination,
    write it beside the backups. Returns the checkpoint (places and hashes only)."""
    from handover.crypto import fingerprint, public_pem, sign

    with conn.cursor() as cur:
        cur.execute("SELECT seq, encode(hash, 'hex'), at FROM ops.audit WHERE seq = (SELECT seq FROM ops.audit_head)")
        row = cur.fetchone()
        cur.execute("SELECT current_database()")
        database = cur.fetchone()[0]
    if row is None:
        conn.rollback()
        return {}
    seq, hexhash, entry_at = row
    taken_at = dt.datetime.now(dt.UTC).isoformat()
    text = json.dumps({"kind": CHECKPOINT_KIND, "version": 1, "seq": seq, "hash": hexhash,
                       "entry_at": entry_at.isoformat(), "taken_at": taken_at, "database": database},
                      sort_keys=True)
    pem = public_pem(signing_key).decode()
    cp = {"seq": seq, "hash": hexhash, "entry_at": entry_at.isoformat(), "taken_at": taken_at, "text": text,
          "signature": sign(signing_key, text.encode()), "public_key": pem,
          "signer_fingerprint": fingerprint(pem.encode())}
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.audit_checkpoints (seq, hash, entry_at, taken_at, text, signature, "
                    "public_key, signer_fingerprint) VALUES (%(seq)s, %(hash)s, %(entry_at)s, %(taken_at)s, "
                    "%(text)s, %(signature)s, %(public_key)s, %(signer_fingerprint)s) ON CONFLICT DO NOTHING", cp)
    conn.commit()
    if dest is not None:
        name = f"{PREFIX}{seq:012d}-{hexhash[:16]}.json"
        if name not in set(dest.list(PREFIX)):
            dest.put(name, iter([json.dumps(cp, sort_keys=True).encode()]))
    return cp


def _parsed(cp: dict) -> dict:
    """A checkpoint's fields from its signed text (never from the unsigned copies beside it)."""
    try:
        body = json.loads(cp["text"])
    except (KeyError, ValueError):
        return {}
    return cp | {k: body[k] for k in ("seq", "hash", "taken_at") if k in body}


def recorded(conn) -> list[dict]:
    """The checkpoints in ``control.audit_checkpoints``."""
    with conn.cursor() as cur:
        cur.execute("SELECT text, signature, public_key, signer_fingerprint FROM control.audit_checkpoints "
                    "ORDER BY seq")
        rows = cur.fetchall()
    conn.rollback()
    return [_parsed({"text": t, "signature": s, "public_key": p, "signer_fingerprint": f}) for t, s, p, f in rows]


def stored(dest) -> list[dict]:
    """The checkpoints written beside the backups at ``dest``."""
    return [_parsed(json.loads(dest.get(name))) for name in dest.list(PREFIX) if name.endswith(".json")]


def latest(conn) -> dict | None:
    """The newest checkpoint's place and time (the review's evidence)."""
    with conn.cursor() as cur:
        cur.execute("SELECT seq, taken_at FROM control.audit_checkpoints ORDER BY taken_at DESC LIMIT 1")
        row = cur.fetchone()
    conn.rollback()
    return {"seq": row[0], "taken_at": row[1]} if row else None
