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


def data_purpose(branch_id: str) -> str:
    return f"data:{branch_id}"


class Keyring:
    """The keys one transfer needs, opened once."""

    def __init__(self, conn, master: MasterKey, branch_id: str) -> None:
        key_id, data_key = get_or_create(conn, master, data_purpose(branch_id))
        self.cipher = FieldCipher(data_key, key_id)
        self.blind_index = Hasher(get_or_create(conn, master, "blind_index")[1])
        self.content = Hasher(get_or_create(conn, master, "content")[1])
        # the analytics tier's tokens: one key for every branch, so a customer's token is the same in each
        self.pseudonym = Hasher(get_or_create(conn, master, "pseudonym")[1])

    def __repr__(self) -> str:
        return f"Keyring(data_key_id={self.cipher.key_id})"
