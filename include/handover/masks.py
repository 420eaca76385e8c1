"""Display masks: what front-line staff see instead of an identifier (138****5678).

One rule per format; the vault stores the masked form beside the ciphertext so a teller's screen never
needs the key. The rules work on a whole Arrow column at once (a chunk holds hundreds of thousands of
values); `mask` applies them to one value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow is imported where a column is masked: the rules' data (KEEP_ENDS) needs none
    import pyarrow as pa

# Characters kept at the start and the end; the middle is starred. Formats not named keep (1, 1).
KEEP_ENDS = {
    "mobile": (3, 4),  # 138****5678
    "resident_id": (6, 4),  # 110105********002X
    "bank_card": (6, 4),  # 622202*********0128
    "uscc": (6, 4),
}

# An e-mail address with a domain: the first character of the local part, then the domain after the first @.
_EMAIL = r"(?s)^([^@]?)[^@]*@(.+)$"


def _stars(count) -> pa.Array:
    import pyarrow.compute as pc

    return pc.binary_repeat("*", count)


def first_then_stars(values):
    """The first character, then a star for every other one (at least one star shows it is masked)."""
    import pyarrow.compute as pc

    length = pc.utf8_length(values)
    return pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, 1),
                                       _stars(pc.max_element_wise(pc.subtract(length, 1), 1)), "")


def keep_ends(values, first: int, last: int):
    """Keep the first and last characters, star the middle; a value too short for that shows only its
    first character."""
    import pyarrow.compute as pc

    length = pc.utf8_length(values)
    tail = pc.utf8_slice_codeunits(values, -last) if last else ""
    middle = pc.max_element_wise(pc.subtract(length, first + last), 0)  # short values: see below
    kept = pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, first), _stars(middle), tail, "")
    return pc.if_else(pc.less_equal(length, first + last), first_then_stars(values), kept)


def email(values):
    """z***@example.com; without a domain, like a name."""
    import pyarrow.compute as pc

    return pc.if_else(pc.match_substring_regex(values, _EMAIL),
                      pc.replace_substring_regex(values, _EMAIL, r"\1***@\2"), first_then_stars(values))


def mask_array(fmt: str, values):
    """The masks of an Arrow string array (or chunked array); nulls stay null."""
    if fmt == "email":
        return email(values)
    if fmt == "name":  # 张*
        return first_then_stars(values)
    return keep_ends(values, *KEEP_ENDS.get(fmt, (1, 1)))


def mask(fmt: str, value: str | None) -> str | None:
    import pyarrow as pa

    if value is None:
        return None
    return mask_array(fmt, pa.array([value], pa.string()))[0].as_py()
