"""Names made from names: a run's tag, a branch's partition — short, readable, SQL- and path-safe, and unique
because a hash of the whole original follows the readable part."""

from __future__ import annotations

import hashlib
import re


def slug(text: str, width: int = 24) -> str:
    """``manual__2026-11-30T07:18:09+00:00`` → ``manual_2026_11_30t07_18_0_1a2b3c4d``: lower-case letters,
    digits and ``_`` (at most ``width`` of them), then ``_`` and 8 hex digits of the text's SHA-256."""
    readable = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:width]
    return f"{readable}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"
