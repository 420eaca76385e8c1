"""Tombstones beside the backups: each erasure request's tombstones (kind + blind-index digest, never a value)
written once as an object at the backups' destination (``tombstones/<request>.json``), so that a restore onto
a new server — where this store's ``control`` is gone — still erases every customer it names.

``dest`` is a backup destination (:class:`handover.backup.snapshot.LocalFolder` or ``S3Bucket``).
"""

from __future__ import annotations

import json
import logging

from handover.purge import erasure
from handover.store import keys

log = logging.getLogger(__name__)


def mirror(conn, dest) -> int:
    """Each request's tombstones as one object beside the backups (written once; never expired)."""
    with conn.cursor() as cur:
        cur.execute("SELECT request_id, kind, encode(digest, 'hex'), erased_at FROM control.tombstones ORDER BY 1, 2, 3")
        by_request: dict[int, list] = {}
        for request_id, kind, hexdigest, erased_at in cur.fetchall():
            by_request.setdefault(request_id, []).append({"kind": kind, "digest": hexdigest,
                                                          "erased_at": erased_at.isoformat()})
    existing = set(dest.list("tombstones/"))
    written = 0
    for request_id, stones in by_request.items():
        name = f"tombstones/{request_id:012d}.json"
        if name not in existing:
            dest.put(name, iter([json.dumps(stones, sort_keys=True).encode()]))
            written += 1
    return written


def stored(dest) -> list[tuple[str, bytes]]:
    """The tombstones written beside the backups."""
    out = []
    for name in dest.list("tombstones/"):
        out += [(s["kind"], bytes.fromhex(s["digest"])) for s in json.loads(dest.get(name))]
    return out


def known(conn, dest) -> list[tuple[str, bytes]]:
    """Every erasure's tombstones: those beside the backups and, given a store (``conn``), its
    ``control.tombstones``."""
    stones = set(stored(dest))
    if conn is not None:
        with conn.cursor() as cur:
            cur.execute("SELECT kind, digest FROM control.tombstones")
            stones |= {(k, bytes(d)) for k, d in cur.fetchall()}
    return sorted(stones)


def apply_after_restore(conn, master, stones, *, commit: bool = False) -> dict:
    """The tombstones applied to a restored store (inside its restore transaction unless ``commit``): the
    restored store's own blind-index key, read without writing; a store without one has nothing indexed."""
    blind = keys.hasher(conn, master, create=False)
    applied = erasure.apply_tombstones(conn, blind, stones) if blind else {"tombstones": len(stones), "customers": 0}
    if commit:
        conn.commit()
    log.info("tombstones applied after the restore: %s", applied)
    return applied
