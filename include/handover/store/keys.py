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


def data_purpose(branch_id: str) -> str:
    return f"data:{branch_id}"


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
