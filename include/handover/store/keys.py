"""The keyring in ``ops.keys``: keys stored wrapped by the master key, created on first use.

Creation is race-safe (INSERT … ON CONFLICT DO NOTHING, then read back what won), so two runs of one
branch always share one data key, and a re-run reuses it: idempotent.
"""

from __future__ import annotations

import hashlib

from handover.crypto import FieldCipher, Hasher, MasterKey, new_key


def _key_id(purpose: str, key: bytes) -> str:
    # Names the key without revealing it: a hash over a derived value, not the key itself.
    return hashlib.sha256(b"handover/key-id\x00" + purpose.encode() + hashlib.sha256(key).digest()).hexdigest()[:16]


def get_or_create(conn, master: MasterKey, purpose: str) -> tuple[str, bytes]:
    key = new_key()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ops.keys (purpose, key_id, wrapped, master_key_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (purpose) DO NOTHING",
            (purpose, _key_id(purpose, key), master.wrap(key, purpose), master.key_id))
        cur.execute("SELECT key_id, wrapped FROM ops.keys WHERE purpose = %s", (purpose,))
        key_id, wrapped = cur.fetchone()
    conn.commit()
    return key_id, master.unwrap(bytes(wrapped), purpose)


BLIND_INDEX = "blind_index"  # the key of every identifier's blind index (lookups, erasure, the purge)
CONTENT = "content"          # the keyed content hash of a vault row
PSEUDONYM = "pseudonym"      # the analytics tier's tokens: one key for every branch


def hasher(conn, master: MasterKey, purpose: str = BLIND_INDEX, *, create: bool = True) -> Hasher | None:
    """The keyed hasher of ``purpose`` in the store ``conn`` reaches — the one place a blind index (or a
    content hash, or a token) is built from its key. ``create=False`` reads the key without ever writing
    or committing (inside a restore's transaction) and is None when the store has none yet."""
    if create:
        return Hasher(get_or_create(conn, master, purpose)[1])
    with conn.cursor() as cur:
        cur.execute("SELECT wrapped FROM ops.keys WHERE purpose = %s", (purpose,))
        row = cur.fetchone()
    return Hasher(master.unwrap(bytes(row[0]), purpose)) if row else None


def replace(conn, master: MasterKey, purpose: str, key: bytes) -> str:
    """``purpose``'s key replaced by ``key`` (wrapped by ``master``) inside the caller's transaction — nothing
    is committed: what the old key made is re-made in the same transaction (:mod:`handover.retokenise`).
    The new key's id; the old key is gone from the store."""
    key_id = _key_id(purpose, key)
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.keys SET key_id = %s, wrapped = %s, master_key_id = %s, created_at = clock_timestamp(), "
                    "rewrapped_at = NULL WHERE purpose = %s", (key_id, master.wrap(key, purpose), master.key_id, purpose))
        if cur.rowcount != 1:
            raise KeyError(purpose)
    return key_id


def key_id(conn, purpose: str) -> str | None:
    """The id of ``purpose``'s key in the store (None: it has none)."""
    with conn.cursor() as cur:
        cur.execute("SELECT key_id FROM ops.keys WHERE purpose = %s", (purpose,))
        row = cur.fetchone()
    return row[0] if row else None


def data_purpose(branch_id: str) -> str:
    return f"data:{branch_id}"


def branch_cipher(conn, master: MasterKey, branch_id: str) -> FieldCipher | None:
    """The branch's data key, read and never created (None: nothing was transferred for the branch)."""
    purpose = data_purpose(branch_id)
    with conn.cursor() as cur:
        cur.execute("SELECT key_id, wrapped FROM ops.keys WHERE purpose = %s", (purpose,))
        row = cur.fetchone()
    return None if row is None else FieldCipher(master.unwrap(bytes(row[1]), purpose), row[0])


class Keyring:
    """The keys one transfer needs, opened once."""

    def __init__(self, conn, master: MasterKey, branch_id: str) -> None:
        key_id, data_key = get_or_create(conn, master, data_purpose(branch_id))
        self.cipher = FieldCipher(data_key, key_id)
        self.blind_index = hasher(conn, master, BLIND_INDEX)
        self.content = hasher(conn, master, CONTENT)
        # the analytics tier's tokens: one key for every branch, so a customer's token is the same in each
        self.pseudonym = hasher(conn, master, PSEUDONYM)

    def __repr__(self) -> str:
        return f"Keyring(data_key_id={self.cipher.key_id})"
