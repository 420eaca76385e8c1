"""The data map (GB/T 39335 §5.3: what flows where) and its lineage events.

:func:`data_map` reads the contract: every declared source goes through the run's private work area into the
vault (ciphertext, blind indexes, masks), the analytics tier (tokens, generalised values), quarantine or the
exclusions, then into the encrypted backups; the recipient is the receiving party. The PIPIA shows it
(:mod:`handover.pipia`).

The same entities are what Airflow's OpenLineage integration reports: :func:`datasets` names them as
OpenLineage datasets (namespace ``handover://<branch>`` for the export, ``postgresql://target`` for the
store's tables), and :func:`run_event` builds an OpenLineage RunEvent for one task — names, schemas of
column names and row counts only, never a customer value. The Airflow side (``handover_airflow.lineage``)
sends them through the OpenLineage provider's transport when it is installed, else appends them as JSON
lines to a file (the file transport's format).
"""

from __future__ import annotations

import datetime as dt
import uuid

PRODUCER = "https://github.com/handover/handover"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
STORE_NAMESPACE = "postgresql://target"


def export_namespace(branch_id: str) -> str:
    return f"handover://{branch_id}"


def data_map(contract) -> list[dict]:
    """Every flow of the contract's records: source, target, what moves."""
    flows = []
    for name, spec in contract.entities.items():
        # a source database's table: `file` holds its name (handover.contract)
        where = spec.source.file if spec.source.format != "table" else f"table {spec.source.file}"
        flows += [
            {"source": f"export: {where}", "target": "archive (encrypted original)", "what": name},
            {"source": f"export: {where}", "target": "run work area (private, removed)", "what": name},
            {"source": "run work area", "target": f"vault.{name}", "what": "ciphertext, blind indexes, masks"},
            {"source": "run work area", "target": f"analytics.{name}", "what": "tokens, generalised values"},
        ]
    flows += [
        {"source": "run work area", "target": "ops.quarantine", "what": "failed rows, encrypted"},
        {"source": "run work area", "target": "ops.exclusions", "what": "blind indexes of rows without consent"},
        {"source": "vault, analytics, ops", "target": "backups (encrypted, signed)", "what": "every table"},
        {"source": "vault", "target": f"recipient: {contract.receiving_party.name}", "what": "the branch's records"},
    ]
    return flows


def datasets(contract) -> dict[str, list[dict]]:
    """The OpenLineage datasets of a transfer: the export's files (inputs) and the store's tables (outputs),
    each with the column names it has (schema facet) — names only."""
    inputs, outputs = [], []
    for name, spec in contract.entities.items():
        source = spec.source.file  # a file of the export, or a source database's table (its name)
        inputs.append(_dataset(export_namespace(contract.branch_id), source, [c.header for c in spec.columns]))
        fields = [c.name for c in spec.columns if not c.is_extra]
        outputs += [_dataset(STORE_NAMESPACE, f"vault.{name}", fields),
                    _dataset(STORE_NAMESPACE, f"analytics.{name}", fields)]
    outputs += [_dataset(STORE_NAMESPACE, "ops.quarantine", []), _dataset(STORE_NAMESPACE, "ops.exclusions", [])]
    return {"inputs": inputs, "outputs": outputs}


def _dataset(namespace: str, name: str, columns: list[str]) -> dict:
    facets = {}
    if columns:
        facets["schema"] = {"_producer": PRODUCER,
                            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                            "fields": [{"name": c} for c in columns]}
    return {"namespace": namespace, "name": name, "facets": facets}


def run_event(event_type: str, *, job_namespace: str, job_name: str, run_id: str, inputs: list[dict],
              outputs: list[dict], row_counts: dict[str, int] | None = None) -> dict:
    """An OpenLineage RunEvent (START, COMPLETE, FAIL); ``row_counts``: rows written per output table."""
    counted = []
    for ds in outputs:
        ds = {**ds, "facets": dict(ds["facets"])}
        if row_counts and ds["name"] in row_counts:
            ds["outputFacets"] = {"outputStatistics": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                "rowCount": int(row_counts[ds["name"]])}}
        counted.append(ds)
    return {"eventType": event_type, "eventTime": dt.datetime.now(dt.UTC).isoformat(), "producer": PRODUCER,
            "schemaURL": SCHEMA_URL, "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, run_id))},
            "job": {"namespace": job_namespace, "name": job_name}, "inputs": inputs, "outputs": counted}
