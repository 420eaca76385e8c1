"""Archive of the original: the untouched export, encrypted, before anything is transformed.

Each source file is stored content-addressed — ``<archive root>/<branch>/<sha256 of the file>.enc`` — so a
re-run of the same export archives nothing twice, and the branch's original can always be produced and
checked against the SHA-256 the manifest lists (`restore`). Each file is encrypted in chunks under a key of
its own, wrapped by the master key (`handover.crypto.encrypt_stream`).
"""

from __future__ import annotations

import json
from pathlib import Path

from handover.crypto import MasterKey, decrypt_stream, encrypt_stream
from handover.errors import HandoverError


class ArchiveError(HandoverError):
    """An archived original is missing or does not match its recorded hash."""


def _purpose(branch_id: str) -> str:
    return f"archive:{branch_id}"


def archive_file(path: Path, sha256: str, branch_id: str, root: Path, master: MasterKey) -> dict:
    """Encrypt one source file into the archive (once per content); return its archive entry."""
    folder = Path(root) / branch_id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"{sha256}.enc"
    meta_path = folder / f"{sha256}.json"
    if target.exists() and meta_path.exists():
        return json.loads(meta_path.read_text())
    from handover import private_files

    with open(path, "rb") as src, private_files.written(target, replace=True) as dst:
        info = encrypt_stream(src, dst, master, _purpose(branch_id))
        if info["plain_sha256"] != sha256:
            raise ArchiveError(f"{path.name} changed while it was being archived: its SHA-256 is no longer the "
                               "one checked at the start of the run; run the transfer again on a stable export")
    entry = {"file": path.name, "sha256": sha256, "bytes": info["plain_bytes"],
             "archive": target.name, "archive_sha256": info["cipher_sha256"],
             "master_key_id": info["master_key_id"]}
    meta_path.write_text(json.dumps(entry, ensure_ascii=False, indent=2))
    return entry


def restore(archive: Path, out: Path, branch_id: str, master: MasterKey, expected_sha256: str | None = None) -> str:
    """Decrypt an archived original to `out`; check its SHA-256 (the file name, unless given)."""
    expected = expected_sha256 or Path(archive).name.removesuffix(".enc")
    if not Path(archive).exists():
        raise ArchiveError(f"archive {archive} does not exist")
    from handover import private_files

    with open(archive, "rb") as src, private_files.written(out) as dst:  # 0600, new; removed if it fails
        digest = decrypt_stream(src, dst, master, _purpose(branch_id))
        if digest != expected:
            raise ArchiveError(f"the restored file's SHA-256 is {digest[:16]}…, not the recorded "
                               f"{expected[:16]}…: nothing was written")
    return digest
