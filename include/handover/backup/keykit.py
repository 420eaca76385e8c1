"""The recovery kit: the master key and the signing key, sealed under a passphrase, to be kept *apart from
the backups* (a lost master key is a lost backup; a master key stored beside the backups protects nothing).

The kit is a small JSON file: the keys' ids (to tell kits apart, and which backups a kit opens), scrypt's
parameters and salt, and the keys sealed with AES-256-GCM under the key scrypt derives from the
passphrase, the header bound in as associated data. Print it, or keep it on two offline media in two
places; keep the passphrase elsewhere (e.g. split between two officers). ``open_kit`` gives the keys back
as the text Airflow's Variables take. See README, "Recovery plan".
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from handover.crypto import KeyringError, MasterKey, fingerprint, public_pem, signing_key

FORMAT = "handover-recovery-kit/1"
MIN_PASSPHRASE = 16
SCRYPT = {"n": 2 ** 17, "r": 8, "p": 1}  # ~128 MiB and a fraction of a second: a guess costs the same


def _derive(passphrase: str, salt: bytes, params: dict) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(passphrase.encode())


def _header(kit: dict) -> bytes:
    return json.dumps({k: kit[k] for k in ("format", "created_at", "master_key_id", "signing_key_fingerprint",
                                           "kdf", "salt")}, sort_keys=True).encode()


def make_kit(master_text: str, signing_text: str, passphrase: str, *, kdf: dict | None = None) -> dict:
    """Seal both keys (as configured: base64 master, base64 seed or PEM signing key) under ``passphrase``."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyringError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    master = MasterKey.from_text(master_text)  # both checked to be real keys before sealing them
    signer = signing_key(signing_text)
    salt = os.urandom(16)
    kit = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "master_key_id": master.key_id, "signing_key_fingerprint": fingerprint(public_pem(signer)),
           "kdf": {"name": "scrypt"} | (kdf or SCRYPT), "salt": base64.b64encode(salt).decode()}
    nonce = os.urandom(12)
    secret = json.dumps({"master_key": master_text.strip(), "signing_key": signing_text.strip()}).encode()
    sealed = AESGCM(_derive(passphrase, salt, kit["kdf"])).encrypt(nonce, secret, _header(kit))
    kit["sealed"] = base64.b64encode(nonce + sealed).decode()
    return kit


def open_kit(kit: dict, passphrase: str) -> dict:
    """The keys of a kit: ``{"master_key": …, "signing_key": …}``, checked against the ids it records."""
    if kit.get("format") != FORMAT:
        raise KeyringError("not a Handover recovery kit")
    blob = base64.b64decode(kit["sealed"])
    try:
        secret = AESGCM(_derive(passphrase, base64.b64decode(kit["salt"]), kit["kdf"])).decrypt(
            blob[:12], blob[12:], _header(kit))
    except InvalidTag:
        raise KeyringError("the passphrase does not open this kit (or the kit was changed)") from None
    keys = json.loads(secret)
    if MasterKey.from_text(keys["master_key"]).key_id != kit["master_key_id"] or \
            fingerprint(public_pem(signing_key(keys["signing_key"]))) != kit["signing_key_fingerprint"]:
        raise KeyringError("the kit's keys are not the ones its header names")
    return keys
