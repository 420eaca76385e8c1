"""What the hostile tests assert about an outcome: a clear error, no planted value anywhere, balanced counts;
and the original bytes a quarantined row keeps."""

from __future__ import annotations

import base64
import re

from handover.errors import HandoverError


def assert_clear_error(error: BaseException | None, *, file: str, line: int | None = None,
                       column: str | None = None, says: tuple[str, ...] = ()) -> str:
    """A HandoverError whose message names the file, the line and column where they apply, and what to do."""
    assert isinstance(error, HandoverError), f"expected a HandoverError, got {error!r}"
    message = str(error)
    assert file in message, message
    if line is not None:
        assert f"line {line}" in message, message
    if column is not None:
        assert column in message, message
    for text in says:
        assert text in message, message
    hint = getattr(error, "hint", None)
    assert hint or "fix them and run again" in message, f"the error does not say what to do: {message}"
    return message


def assert_no_leak(text: str, planted: tuple[str, ...] | list[str]) -> None:
    """No planted value in ``text``. A value of letters and digits only counts where it stands on its own:
    a short one (``1234``) is found by chance inside the hex of a hash or a signature."""
    for value in planted:
        if value:
            pattern = (rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])" if value.isascii() and value.isalnum()
                       else re.escape(value))
            found = re.search(pattern, text)
            at = found.start() if found else -1
            assert at < 0, f"a planted customer value appears in: …{text[max(0, at - 150):at + 150]}…"


def assert_balanced(manifest: dict) -> None:
    for entity, c in manifest["counts"].items():
        accounted = c["loaded"] + c["quarantined"] + c["excluded"] + c["duplicates"]
        assert c["source_rows"] == accounted, (entity, c)
        assert c["balanced"], (entity, c)


def raw_bytes(q: dict) -> bytes:
    """The original content a quarantined row keeps (the file's bytes for a CSV row)."""
    return base64.b64decode(q["payload"]["raw_base64"])
