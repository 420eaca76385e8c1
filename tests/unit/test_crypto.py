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

