"""Lineage through Airflow's own machinery: each transfer step reports the entities it read and wrote to
Airflow's hook-lineage collector (`airflow.sdk.lineage`), which the OpenLineage provider turns into the task's
inputs and outputs — every OpenLineage consumer a user runs (Marquez, DataHub, a file) then sees each record's
path: the export's files → the vault's and analytics tier's tables (and quarantine, exclusions).

Names only: ``file://`` URIs of the export's files (percent-encoded) and ``postgres://host:port/db/schema/table``
of the store's tables; never a row. Transport: the provider's configuration (``[openlineage] transport``,
e.g. ``{"type": "file", "log_file_path": …}`` or ``{"type": "http", "url": …}``). Without the provider the
collector is a no-op and nothing is sent.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

log = logging.getLogger(__name__)


class _Step:
    """What the collector keys its entries by (a hook, usually): the step that read or wrote them."""

    def __init__(self, name: str) -> None:
        self.name = name


def _store_uri(dsn: str, table: str) -> str:
    from psycopg2.extensions import parse_dsn

    p = parse_dsn(dsn)
    host = p.get("host") or "localhost"
    if host.startswith("/"):
        host = "localhost"
    schema, _, name = table.partition(".")
    return f"postgres://{host}:{p.get('port') or 5432}/{p.get('dbname') or 'postgres'}/{schema}/{name}"


def _file_uri(path: str) -> str:
    return "file://" + quote(path)


def entities(step: str, ctx, contract) -> tuple[list[str], list[str]]:
    """(input URIs, output URIs) of one transfer step."""
    from pathlib import Path

    if step == "extract_source":
        folder = contract.source_dir(ctx.source_dir)
        return ([_file_uri(str(Path(folder) / spec.source.file)) for spec in contract.entities.values()
                 if spec.source.format != "table"], [])
    if step == "load_vault" and not ctx.dry_run:
        tables = [f"{tier}.{name}" for name in contract.entities for tier in ("vault", "analytics")]
        return ([], [_store_uri(ctx.dsn, t) for t in tables + ["ops.quarantine", "ops.exclusions"]])
    return [], []


def report(step: str, ctx) -> None:
    """Tell Airflow's lineage collector what ``step`` read and wrote (a failure here never fails the step)."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector

        inputs, outputs = entities(step, ctx, ctx.contract())
        if not inputs and not outputs:
            return
        collector, source = get_hook_lineage_collector(), _Step(step)
        for uri in inputs:
            collector.add_input_asset(context=source, uri=uri)
        for uri in outputs:
            collector.add_output_asset(context=source, uri=uri)
    except Exception as exc:  # noqa: BLE001 — lineage is told, not relied on
        log.warning("lineage of %s not reported (%s)", step, type(exc).__name__)
