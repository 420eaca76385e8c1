"""The recovery kit: both keys sealed under a passphrase, given back only to it, and checked."""

from __future__ import annotations

import base64
import json

import pytest
from handover.backup import keykit
from handover.crypto import KeyringError

MASTER = base64.b64encode(bytes(range(1, 33))).decode()
SIGNING = base64.b64encode(bytes(range(32))).decode()
FAST = {"n": 2 ** 14, "r": 8, "p": 1}  # the real kit's scrypt costs ~128 MiB; the tests need not
PASSPHRASE = "correct horse battery staple 马"


def test_a_kit_gives_back_both_keys_to_its_passphrase_only():
    kit = keykit.make_kit(MASTER, SIGNING, PASSPHRASE, kdf=FAST)
    assert keykit.open_kit(kit, PASSPHRASE) == {"master_key": MASTER, "signing_key": SIGNING}
    with pytest.raises(KeyringError, match="does not open"):
        keykit.open_kit(kit, PASSPHRASE + "x")


def test_the_kit_file_holds_no_key_in_the_clear():
    text = json.dumps(keykit.make_kit(MASTER, SIGNING, PASSPHRASE, kdf=FAST))
    for secret in (MASTER, SIGNING, MASTER[:16], SIGNING[:16], bytes(range(1, 33)).hex()):
        assert secret not in text


def test_the_default_cost_is_scrypts_interactive_minimum_or_more():
    assert keykit.SCRYPT["n"] >= 2 ** 17 and keykit.SCRYPT["r"] >= 8


def test_a_short_passphrase_and_a_non_key_are_refused():
    with pytest.raises(KeyringError, match="at least 16"):
        keykit.make_kit(MASTER, SIGNING, "short", kdf=FAST)
    with pytest.raises(KeyringError):
        keykit.make_kit("not base64!", SIGNING, PASSPHRASE, kdf=FAST)


@pytest.mark.parametrize("field", ["master_key_id", "signing_key_fingerprint", "created_at", "salt"])
def test_a_changed_header_does_not_open(field):
    kit = keykit.make_kit(MASTER, SIGNING, PASSPHRASE, kdf=FAST)
    kit[field] = "0" * len(kit[field]) if field != "salt" else base64.b64encode(b"\0" * 16).decode()
    with pytest.raises(KeyringError):
        keykit.open_kit(kit, PASSPHRASE)
