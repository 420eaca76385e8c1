"""Limits on what an input may make Handover do: memory bounded by a setting, not by the input.

Every reader and check stays within these; beyond one, a `LimitError` names the file, the line (or entry)
and the limit — and no message grows with the input. Each is a setting: the environment variable
``HANDOVER_LIMIT_<NAME>`` (e.g. ``HANDOVER_LIMIT_LINE_CHARS=16777216``) overrides the default, for the rare
export that needs more.

===================  ===========  ==========================================================================
name                 default      what it bounds
===================  ===========  ==========================================================================
``line_chars``       8 MiB        one physical line of a CSV file (a file of one 2 GB "line", a tail of NULs)
``record_chars``     16 MiB       one CSV record (a quote that swallows the rest of the file)
``columns``          1,000        the columns of a header row (100,000 unknown columns is not an export)
``xlsx_inflated``    2 GiB        a workbook's uncompressed size (a zip bomb)
``xlsx_ratio``       200          a workbook entry's uncompressed ÷ compressed size, above 1 MiB
``xlsx_row_bytes``   16 MiB       one row of a sheet's XML (a sheet padded to hundreds of MB)
``document_bytes``   1 MiB        a contract or retention schedule
``log_line_chars``   1 MiB        one line of a file the leak scan reads (scanned in windows beyond it)
``message_items``    20           how many problems one error message lists ("… and N more")
===================  ===========  ==========================================================================
"""

from __future__ import annotations

import os

from handover.errors import HandoverError

DEFAULTS = {
    "line_chars": 8 << 20,
    "record_chars": 16 << 20,
    "columns": 1_000,
    "xlsx_inflated": 2 << 30,
    "xlsx_ratio": 200,
    "xlsx_row_bytes": 16 << 20,
    "document_bytes": 1 << 20,
    "log_line_chars": 1 << 20,
    "message_items": 20,
}


class LimitError(HandoverError):
    """An input beyond a limit (the message names the place and the limit, never the content)."""


def limit(name: str) -> int:
    """The limit's value: ``HANDOVER_LIMIT_<NAME>`` if set to a positive whole number, else the default."""
    text = os.environ.get(f"HANDOVER_LIMIT_{name.upper()}")
    if text:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise LimitError(f"HANDOVER_LIMIT_{name.upper()} must be a whole number") from None
        if value > 0:
            return value
    return DEFAULTS[name]


def listed(items: list[str], what: str = "more") -> list[str]:
    """At most ``message_items`` of a list of problems, and how many were left out."""
    most = limit("message_items")
    if len(items) <= most:
        return items
    return [*items[:most], f"… and {len(items) - most:,} {what}"]
