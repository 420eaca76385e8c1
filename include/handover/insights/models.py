"""The insight models: the SQL files of ``models/``, run in the order of their names in one transaction as
``handover_analyst``. Each but the last makes a temporary table (``ON COMMIT DROP``) the next ones read;
the last returns the cells. Parameters are psycopg2's ``%(name)s`` (:meth:`handover.insights.Thresholds.params`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg2

from handover.insights.suppression import Cell
from handover.store.roles import ANALYST

FOLDER = Path(__file__).with_name("models")


def files(folder: Path = FOLDER) -> list[Path]:
    """The models, in the order they run."""
    return sorted(Path(folder).glob("*.sql"))


def names() -> list[str]:
    return [p.stem for p in files()]


def fingerprint() -> str:
    """SHA-256 of the models' text, in order: which SQL made a run's figures."""
    digest = hashlib.sha256()
    for path in files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run(conn, params: dict, *, folder: Path = FOLDER) -> list[Cell]:
    """Every model on ``conn`` as the analyst; the last one's rows as cells. Leaves nothing behind (the
    transaction is rolled back: the temporary tables go with it)."""
    from handover.insights import InsightsError

    paths = files(folder)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(f"SET LOCAL ROLE {ANALYST}")
            except psycopg2.Error:
                conn.rollback()
                cur.execute("SELECT current_user")
                user = cur.fetchone()[0]
                raise InsightsError(f"{user} may not act as {ANALYST}: an administrator grants it "
                                    f"(GRANT {ANALYST} TO {user}), or connection handover_analyst names a login "
                                    "that is a member; `handover roles --dsn …` creates the role") from None
            for path in paths[:-1]:
                cur.execute(path.read_text(encoding="utf-8"), params)
            cur.execute(paths[-1].read_text(encoding="utf-8"), params)
            return [Cell(branch, region, dimension, segment, int(n)) for branch, region, dimension, segment, n
                    in cur.fetchall()]
    finally:
        conn.rollback()
