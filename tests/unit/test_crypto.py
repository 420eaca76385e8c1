"""Envelope encryption, blind indexes and display masks."""

from __future__ import annotations

import base64
import os

import pytest
from handover import masks
from handover.crypto import FieldCipher, Hasher, KeyringError, MasterKey, new_key


def test_field_encryption_round_trip_and_fresh_nonces():
    cipher = FieldCipher(new_key(), "k1")
    a = cipher.encrypt("11010519491231002X", "vault.customers.id_number")
    b = cipher.encrypt("11010519491231002X", "vault.customers.id_number")
    assert a != b  # a fresh nonce per value
    assert b"11010519491231002X" not in a
    assert cipher.decrypt(a, "vault.customers.id_number") == "11010519491231002X"
    assert cipher.encrypt_many(["张伟", None], "c")[1] is None


def test_ciphertext_is_bound_to_its_column_and_key():
    cipher = FieldCipher(new_key(), "k1")
    blob = cipher.encrypt("13800138000", "vault.customers.mobile")
    with pytest.raises(KeyringError):
        cipher.decrypt(blob, "vault.customers.email")
    with pytest.raises(KeyringError):
        FieldCipher(new_key(), "k2").decrypt(blob, "vault.customers.mobile")


def test_master_key_wraps_data_keys_and_never_shows_itself():
    text = base64.b64encode(os.urandom(32)).decode()
    master = MasterKey.from_text(text)
    data_key = new_key()
    wrapped = master.wrap(data_key, "data:SH-PD-0042")
    assert master.unwrap(wrapped, "data:SH-PD-0042") == data_key
    with pytest.raises(KeyringError):
        master.unwrap(wrapped, "data:OTHER")
    with pytest.raises(KeyringError):
        MasterKey.from_text(base64.b64encode(os.urandom(32)).decode()).unwrap(wrapped, "data:SH-PD-0042")
    assert text not in repr(master) and text not in str(master.__dict__)


@pytest.mark.parametrize("text", [None, "", "not base64!!", base64.b64encode(b"short").decode()])
def test_bad_master_key_is_refused_without_echoing_it(text):
    with pytest.raises(KeyringError) as err:
        MasterKey.from_text(text)
    if text:
        assert text not in str(err.value)


def test_blind_index_is_stable_and_keyed():
    key = new_key()
    one, two = Hasher(key), Hasher(key)
    assert one.digest("mobile", "13800138000") == two.digest("mobile", "13800138000")
    assert one.digest("mobile", "13800138000") != one.digest("email", "13800138000")
    assert one.digest("mobile", "13800138000") != Hasher(new_key()).digest("mobile", "13800138000")
    assert one.digest_many("mobile", ["13800138000", None]) == [one.digest("mobile", "13800138000"), None]


@pytest.mark.parametrize("fmt, value, shown", [
    ("mobile", "13812345678", "138****5678"),
    ("resident_id", "11010519491231002X", "110105********002X"),
    ("bank_card", "6222021234567890128", "622202*********0128"),
    ("email", "zhangwei@example.com", "z***@example.com"),
    ("name", "张伟", "张*"),
    ("name", "欧阳娜娜", "欧***"),
])
def test_display_masks(fmt, value, shown):
    assert masks.mask(fmt, value) == shown



@pytest.mark.parametrize("key_bytes", [0, 16, 32, 64, 65, 100])
def test_batch_digests_are_hmac_sha256(key_bytes):
    """digest_many runs HMAC from precomputed pad states: it must give hmac's bytes for any key length
    (stored blind indexes and row hashes depend on it)."""
    import hashlib
    import hmac

    key = os.urandom(key_bytes)
    values = ["13800138000", "", "张伟\x00\x1f", "bad\udcff", None]
    expected = [None if v is None else
                hmac.new(key, ("mobile\x00" + v).encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
                for v in values]
    hasher = Hasher(key)
    assert hasher.digest_many("mobile", values) == expected
    assert hasher.digest_many("mobile", [None if v is None else v.encode("utf-8", "surrogateescape")
                                         for v in values]) == expected
    assert [hasher.digest("mobile", v) for v in values] == expected


def test_batch_encryption_takes_text_or_bytes_with_a_fresh_nonce_each():
    cipher = FieldCipher(new_key(), "k1")
    values = ["张伟", b"\xe5\xbc\xa0", None, "", "bad\udcff"] + ["13800138000"] * 50
    blobs = cipher.encrypt_many(values, "vault.customers.name")
    assert blobs[2] is None and cipher.encrypt_many([], "c") == []
    nonces = {b[1:13] for b in blobs if b is not None}
    assert len(nonces) == len(values) - 1
    for value, blob in zip(values, blobs, strict=True):
        if value is not None:
            data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
            assert blob[:1] == b"\x01" and len(blob) == 1 + 12 + len(data) + 16
            assert cipher.decrypt_bytes(blob, "vault.customers.name") == data


def _reference_mask(fmt: str, value: str) -> str:
    """The display-mask rules, one value at a time (as they were written before they ran on columns)."""
    def keep_ends(v: str, first: int, last: int) -> str:
        if len(v) <= first + last:
            return v[:1] + "*" * max(len(v) - 1, 1)
        return v[:first] + "*" * (len(v) - first - last) + v[len(v) - last:]

    if fmt == "email":
        local, _, domain = value.partition("@")
        return (local[:1] + "***@" + domain) if domain else keep_ends(value, 1, 0)
    if fmt == "name":
        return value[:1] + "*" * max(len(value) - 1, 1)
    first, last = {"mobile": (3, 4), "resident_id": (6, 4), "bank_card": (6, 4), "uscc": (6, 4)}.get(fmt, (1, 1))
    return keep_ends(value, first, last)


@pytest.mark.parametrize("fmt", ["mobile", "resident_id", "bank_card", "uscc", "email", "name", "landline"])
def test_column_masks_follow_the_rules_for_every_value(fmt):
    import random

    import pyarrow as pa

    rng = random.Random(fmt)
    values = ["", "@", "@@", "a@", "@a", "a@@b", "x\n@y", "张@例子.中国", "1", "12345", "1234567890"]
    values += ["".join(rng.choice("ab@.\n张伟*1X ") for _ in range(rng.randint(0, 22))) for _ in range(500)]
    column = pa.chunked_array([values[:200], [None], values[200:]], pa.string())
    expected = [_reference_mask(fmt, v) for v in values[:200]] + [None] + \
        [_reference_mask(fmt, v) for v in values[200:]]
    assert masks.mask_array(fmt, column).to_pylist() == expected
    assert [masks.mask(fmt, v) for v in values[:20]] == expected[:20]
    assert masks.mask(fmt, None) is None
