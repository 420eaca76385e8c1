"""Errors a user can act on: what was wrong, where (file, row, column) and what to do.

Messages never carry a customer's value: they name the place, not the content.
"""

from __future__ import annotations

from pathlib import Path


class HandoverError(Exception):
    """Base of every error Handover raises on purpose."""


class ContractError(HandoverError):
    """The contract is wrong; nothing has been read or loaded."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"contract {self.path} has {len(self.problems)} problem(s); fix them and run again:\n{lines}"
        )


class SourceError(HandoverError):
    """A source file cannot be read as the contract declares it."""

    def __init__(self, file: str | Path, what: str, *, line: int | None = None,
                 column: str | None = None, hint: str = "") -> None:
        self.file, self.line, self.column, self.what, self.hint = str(file), line, column, what, hint
        where = self.file
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {what}" + (f" — {hint}" if hint else ""))


class ReconciliationError(HandoverError):
    """Source rows do not equal loaded + quarantined + excluded + duplicates."""


class JurisdictionError(HandoverError):
    """The transfer would move data across borders without a recorded approval."""


class StoreError(HandoverError):
    """A database error, told without the values PostgreSQL may quote in its message."""


# SQLSTATE classes whose messages can quote a row's values (data exceptions, integrity violations).
_VALUE_BEARING_CLASSES = ("22", "23")


def store_error(exc, step: str, committed: str | None = None) -> StoreError:
    """Rewrite a psycopg2 error so that it names the place (table, column, constraint) but no value — and,
    given ``committed``, what the step had and had not committed."""
    import psycopg2
    from psycopg2 import errorcodes

    code = getattr(exc, "pgcode", None) or ""
    lost = committed is not None and (isinstance(exc, psycopg2.InterfaceError) or (
        isinstance(exc, psycopg2.OperationalError) and (code[:2] in ("08", "57") or not code)))
    if lost:  # during a step (connecting is told apart by its own message)
        what = f"{step}: the connection to the target store was lost ({type(exc).__name__}" + (
            f" {code}" if code else "") + "; the server ended the session, or the network)"
        return StoreError(what + (f" — {committed}" if committed else ""))
    diag = getattr(exc, "diag", None)
    where = ".".join(p for p in (getattr(diag, "schema_name", None), getattr(diag, "table_name", None),
                                 getattr(diag, "column_name", None)) if p)
    parts = [f"{step}: PostgreSQL error {code or type(exc).__name__}"]
    if code:
        parts.append(f"({(errorcodes.lookup(code) or '').lower()})")
    if where:
        parts.append(f"on {where}")
    if getattr(diag, "constraint_name", None):
        parts.append(f"constraint {diag.constraint_name}")
    primary = getattr(diag, "message_primary", None)
    if primary and code[:2] not in _VALUE_BEARING_CLASSES:
        parts.append(f"— {primary}")
    elif not code:
        parts.append(f"— {str(exc).splitlines()[0] if str(exc) else 'no message'}")
    if committed:
        parts.append(f"— {committed}")
    return StoreError(" ".join(parts))
