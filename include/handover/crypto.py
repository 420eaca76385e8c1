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
from collections.abc import Iterable, Sequence

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
        data = _utf8(value) if isinstance(value, str) else value
        nonce = os.urandom(NONCE_BYTES)
        return FIELD_VERSION + nonce + self._aead.encrypt(nonce, data, column.encode())

    def encrypt_many(self, values: Sequence[str | bytes | None], column: str) -> list[bytes | None]:
        """`encrypt` for many values. One os.urandom call draws every nonce: a system call per value
        cost as much as the encryption."""
        encrypt, aad, step = self._aead.encrypt, column.encode(), NONCE_BYTES
        pool = os.urandom(step * len(values))
        nonces = [pool[i:i + step] for i in range(0, len(pool), step)]
        return [None if v is None else
                FIELD_VERSION + nonce + encrypt(nonce, v if isinstance(v, bytes) else _utf8(v), aad)
                for nonce, v in zip(nonces, values, strict=True)]

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
        # HMAC (RFC 2104) is SHA-256 over (key XOR opad) + SHA-256 over (key XOR ipad) + message. Hashing the
        # two padded keys once and copying those states per value is ~3x faster than hmac.digest, which
        # starts from the key every time; digest_many and digest agree (a unit test holds them to hmac).
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __repr__(self) -> str:
        return "Hasher(<key hidden>)"

    def digest(self, kind: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogateescape"),
                        hashlib.sha256).digest()

    def digest_many(self, kind: str, values: Iterable[str | bytes | None]) -> list[bytes | None]:
        """`digest` for many values (str, or bytes already UTF-8)."""
        prefixed = self._inner.copy()
        prefixed.update(f"{kind}\x00".encode())
        outer = self._outer
        out: list[bytes | None] = []
        append = out.append
        for v in values:
            if v is None:
                append(None)
                continue
            inner = prefixed.copy()
            inner.update(v if isinstance(v, bytes) else _utf8(v))
            h = outer.copy()
            h.update(inner.digest())
            append(h.digest())
        return out


def _utf8(value: str) -> bytes:
    # surrogateescape: a value read from badly encoded bytes keeps them (and round-trips on decrypt).
    return value.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------------------------------------
# Files: AES-256-GCM in chunks (archives of originals; backups). A fresh key per file, wrapped by the master
# key and kept in the file's header, so a file opens with the master key alone — and deleting every copy
# of the wrapped key shreds it. Each chunk has its own random nonce and authenticates its index and
# whether it is the last, so chunks cannot be dropped, reordered or truncated unnoticed. No single GCM
# message comes near 2**31 bytes.

STREAM_MAGIC = b"HOS1"
STREAM_CHUNK = 4 << 20


def encrypt_stream(src, dst, master: MasterKey, purpose: str, chunk_size: int = STREAM_CHUNK) -> dict:
    """Encrypt a binary stream; return sizes and SHA-256 of plaintext and ciphertext."""
    key = new_key()
    aead = AESGCM(key)
    wrapped = master.wrap(key, purpose)
    header = STREAM_MAGIC + len(wrapped).to_bytes(2, "big") + wrapped + master.key_id.encode().ljust(16)[:16]
    plain_sha, cipher_sha = hashlib.sha256(), hashlib.sha256()
    dst.write(header)
    cipher_sha.update(header)
    plain_bytes = 0
    index = 0
    block = src.read(chunk_size)
    while True:
        following = src.read(chunk_size) if block else b""
        last = not following
        plain_sha.update(block)
        plain_bytes += len(block)
        nonce = os.urandom(NONCE_BYTES)
        body = aead.encrypt(nonce, block, _chunk_aad(purpose, index, last))
        frame = nonce + len(body).to_bytes(4, "big") + body
        dst.write(frame)
        cipher_sha.update(frame)
        if last:
            break
        block, index = following, index + 1
    return {"plain_sha256": plain_sha.hexdigest(), "plain_bytes": plain_bytes,
            "cipher_sha256": cipher_sha.hexdigest(), "chunks": index + 1, "master_key_id": master.key_id}


def decrypt_stream(src, dst, master: MasterKey, purpose: str) -> str:
    """Decrypt what encrypt_stream wrote; return the plaintext's SHA-256. Any change raises KeyringError."""
    if src.read(4) != STREAM_MAGIC:
        raise KeyringError("not a Handover encrypted file (bad magic)")
    wrapped = src.read(int.from_bytes(src.read(2), "big"))
    src.read(16)  # the master key id, for humans and key rotation
    aead = AESGCM(master.unwrap(wrapped, purpose))
    digest = hashlib.sha256()
    index = 0
    while True:
        nonce = src.read(NONCE_BYTES)
        if len(nonce) < NONCE_BYTES:
            raise KeyringError("the encrypted file is truncated: its last chunk is missing")
        body = src.read(int.from_bytes(src.read(4), "big"))
        last = src.peek(1) == b"" if hasattr(src, "peek") else _at_end(src)
        try:
            block = aead.decrypt(nonce, body, _chunk_aad(purpose, index, last))
        except InvalidTag:
            raise KeyringError(f"chunk {index} of the encrypted file does not authenticate: "
                               "the file was changed, truncated or reordered") from None
        digest.update(block)
        dst.write(block)
        if last:
            return digest.hexdigest()
        index += 1


def _chunk_aad(purpose: str, index: int, last: bool) -> bytes:
    return f"{purpose}\x00{index}\x00{int(last)}".encode()


def _at_end(src) -> bool:
    here = src.tell()
    end = src.seek(0, 2)
    src.seek(here)
    return here == end


# ---------------------------------------------------------------------------------------------------------
# Signatures: Ed25519 over the exact bytes of a manifest. The private key comes from Airflow's secrets;
# the public key travels beside the manifest, and its fingerprint is what a receiving party pins.

def signing_key(text: str | None):
    """An Ed25519 private key from base64 of its 32-byte seed, or from PEM (PKCS#8)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not text:
        raise KeyringError("no signing key is configured: set the Airflow Variable handover_signing_key "
                           "(base64 of a 32-byte Ed25519 seed, or a PEM private key)")
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise KeyringError("the signing key is neither base64 of a 32-byte seed nor a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyringError("the signing key must be an Ed25519 key")
    return key


def public_pem(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public_key_pem: bytes) -> str:
    """SHA-256 of the raw public key, hex: what a receiving party compares out of band."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_key_pem)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(private_key, data: bytes) -> str:
    return base64.b64encode(private_key.sign(data)).decode()


def verify_signature(public_key_pem: bytes, data: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_key_pem)
    try:
        key.verify(base64.b64decode(signature_b64), data)
        return True
    except (InvalidSignature, ValueError):
        return False
