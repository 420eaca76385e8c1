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
    """A database error, told without the values PostgreSQL may quote in its message. ``transient``: whether
    the same step may succeed when tried again (a lost connection, a serialization failure, a server short
    of resources) — a violated constraint or a wrong type will not."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


# SQLSTATE classes of errors a retry can clear: connection exception, transaction rollback (serialization,
# deadlock), insufficient resources, operator intervention (a terminated session), system error.
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")


def as_store_error(exc: BaseException, step: str) -> StoreError | None:
    """``exc`` told as a :class:`StoreError` when it is a psycopg2 error that escaped a step; else None."""
    import sys

    psycopg2 = sys.modules.get("psycopg2")  # not loaded: it cannot be one of its errors
    if psycopg2 is not None and isinstance(exc, psycopg2.Error):
        return store_error(exc, step)
    return None


# SQLSTATE classes whose messages can quote a row's values (data exceptions, integrity violations).
_VALUE_BEARING_CLASSES = ("22", "23")


def store_error(exc, step: str, committed: str | None = None, retry: str | None = None) -> StoreError:
    """Rewrite a psycopg2 error so that it names the place (table, column, constraint) but no value — and,
    given ``committed``, what the step had and had not committed; given ``retry``, what to do when the error
    is transient (a retry can clear it). An error a retry meets again says to remove its cause first."""
    import psycopg2
    from psycopg2 import errorcodes

    code = getattr(exc, "pgcode", None) or ""
    lost = committed is not None and (isinstance(exc, psycopg2.InterfaceError) or (
        isinstance(exc, psycopg2.OperationalError) and (code[:2] in ("08", "57") or not code)))
    if lost:  # during a step (connecting is told apart by its own message)
        what = f"{step}: the connection to the target store was lost ({type(exc).__name__}" + (
            f" {code}" if code else "") + "; the server ended the session, or the network)"
        return StoreError(what + _after(committed, retry), transient=True)
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
    transient = code[:2] in _TRANSIENT_CLASSES or (not code and isinstance(exc, psycopg2.OperationalError))
    if not transient and committed is not None:
        retry = "a retry meets the same error: remove its cause (named above) first, then run the step again"
    return StoreError(" ".join(parts) + _after(committed, retry), transient=transient)


def _after(committed: str | None, retry: str | None) -> str:
    said = "; ".join(s for s in (committed, retry) if s)
    return f" — {said}" if said else ""
