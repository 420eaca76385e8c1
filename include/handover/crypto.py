"""Keys and ciphers of the vault: envelope encryption, blind indexes, keyed content hashes.

- The master key comes from Airflow's secrets (never the repo, the database, a log or XCom). It only wraps
  other keys: rotating it re-wraps them, nothing is re-encrypted in bulk.
- A data key per branch (random, stored wrapped in ``ops.keys``) encrypts the vault's fields with
  AES-256-GCM; each value gets a fresh 96-bit nonce and is bound to its column by the associated data.
- Purpose keys (random, stored wrapped): ``blind_index`` makes HMAC-SHA256 lookup columns (find a
  customer by mobile or ID number without decrypting); ``content`` makes keyed row hashes, which detect
  changed or conflicting records without being a dictionary-attackable plain hash of an ID number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from handover.errors import HandoverError

KEY_BYTES = 32
NONCE_BYTES = 12
FIELD_VERSION = b"\x01"
WRAP_VERSION = b"HW1"


class KeyringError(HandoverError):
    """A key is missing, malformed, or does not open what it should."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


class MasterKey:
    """The key that wraps every other key. Its repr never shows the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyringError(f"the master key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, b"handover/master-key-id", hashlib.sha256).hexdigest()[:16]

    @classmethod
    def from_text(cls, text: str | None) -> MasterKey:
        if not text:
            raise KeyringError("no master key is configured: set the Airflow Variable handover_master_key "
                            "(base64 of 32 random bytes) in a secrets backend or AIRFLOW_VAR_HANDOVER_MASTER_KEY")
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            raise KeyringError("the master key is not valid base64") from None
        return cls(raw)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id})"

    def wrap(self, key: bytes, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return WRAP_VERSION + nonce + self._aead.encrypt(nonce, key, purpose.encode())

    def unwrap(self, blob: bytes, purpose: str) -> bytes:
        blob = bytes(blob)
        if not blob.startswith(WRAP_VERSION):
            raise KeyringError(f"the wrapped key for {purpose} has an unknown format")
        nonce, body = blob[3:3 + NONCE_BYTES], blob[3 + NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, purpose.encode())
        except InvalidTag:
            raise KeyringError(f"the master key does not open the key for {purpose}: "
                            "is this the master key the store was created with?") from None


class FieldCipher:
    """AES-256-GCM for single values; the column name is the associated data."""

    def __init__(self, data_key: bytes, key_id: str) -> None:
        self._aead = AESGCM(data_key)
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"FieldCipher(key_id={self.key_id})"

    def encrypt(self, value: str | bytes | None, column: str) -> bytes | None:
        if value is None:
            return None
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        nonce = os.urandom(NONCE_BYTES)
        return FIELD_VERSION + nonce + self._aead.encrypt(nonce, data, column.encode())

    def encrypt_many(self, values: Iterable[str | None], column: str) -> list[bytes | None]:
        aead, aad, rand = self._aead, column.encode(), os.urandom
        out: list[bytes | None] = []
        for v in values:
            if v is None:
                out.append(None)
            else:
                nonce = rand(NONCE_BYTES)
                out.append(FIELD_VERSION + nonce + aead.encrypt(nonce, v.encode("utf-8", "surrogateescape"), aad))
        return out

    def decrypt_bytes(self, blob: bytes | memoryview | None, column: str) -> bytes | None:
        if blob is None:
            return None
        blob = bytes(blob)
        if blob[:1] != FIELD_VERSION:
            raise KeyringError(f"a value of {column} has an unknown format")
        try:
            return self._aead.decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], column.encode())
        except InvalidTag:
            raise KeyringError(f"a value of {column} does not decrypt with this branch's key") from None

    def decrypt(self, blob: bytes | memoryview | None, column: str) -> str | None:
        data = self.decrypt_bytes(blob, column)
        return None if data is None else data.decode("utf-8", "surrogateescape")


class Hasher:
    """HMAC-SHA256 under one purpose key: blind indexes and content hashes."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Hasher(<key hidden>)"

    def digest(self, kind: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogateescape"),
                        hashlib.sha256).digest()

    def digest_many(self, kind: str, values: Iterable[str | None]) -> list[bytes | None]:
        key, prefix, sha = self._key, f"{kind}\x00".encode(), hashlib.sha256
        return [None if v is None else hmac.new(key, prefix + v.encode("utf-8", "surrogateescape"), sha).digest()
                for v in values]
