"""Display masks: what front-line staff see instead of an identifier (138****5678).

One rule per format; the vault stores the masked form beside the ciphertext so a teller's screen never
needs the key.
"""

from __future__ import annotations

from collections.abc import Callable


def keep_ends(value: str, first: int, last: int, fill: str = "*") -> str:
    """Keep the first and last characters, star the middle (at least one star shows it is masked)."""
    if len(value) <= first + last:
        return value[:1] + fill * max(len(value) - 1, 1)
    return value[:first] + fill * (len(value) - first - last) + value[len(value) - last:]


def email(value: str) -> str:
    local, _, domain = value.partition("@")
    return (local[:1] + "***@" + domain) if domain else keep_ends(value, 1, 0)


def name(value: str) -> str:
    return value[:1] + "*" * max(len(value) - 1, 1)


MASKS: dict[str, Callable[[str], str]] = {
    "mobile": lambda v: keep_ends(v, 3, 4),  # 138****5678
    "resident_id": lambda v: keep_ends(v, 6, 4),  # 110105********002X
    "bank_card": lambda v: keep_ends(v, 6, 4),  # 622202*********0128
    "uscc": lambda v: keep_ends(v, 6, 4),
    "email": email,  # z***@example.com
    "name": name,  # 张*
}


def mask(fmt: str, value: str | None) -> str | None:
    if value is None:
        return None
    return MASKS.get(fmt, lambda v: keep_ends(v, 1, 1))(value)
