"""The light steps of a transfer stay light: a task that only opens the work area (the DAG's first) or talks
to the store does not import the data libraries, the quality suite or the PII engine — each task runs in a
fresh process under Airflow, and a small export paid seconds of imports in every one of them.

Measured, as the DAG-file probe is (tests/dags), by what does not depend on how busy the machine is: the
modules imported and this process's CPU time (best of three runs, a generous bound)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import base64, json, os, sys, time
started = time.process_time()
before = set(sys.modules)
from handover import transfer
from handover.crypto import MasterKey
from handover.run import RunContext
ctx = RunContext(run_id="probe", contract_path=sys.argv[1], dsn="host=127.0.0.1 port=1 dbname=none",
                 master_key=MasterKey(os.urandom(32)), work_root=sys.argv[2], output_root=sys.argv[2])
transfer.open_work_area(ctx)
contract = ctx.contract()
new = set(sys.modules) - before
top = sorted({m.split(".")[0] for m in new})
print(json.dumps({"cpu": time.process_time() - started, "modules": len(new), "top": top}))
"""
# Imported only by the steps that read, check or protect data (extract, verify, protect, the load, the
# manifest's checklist): never by the first task.
HEAVY = {"pandas", "numpy", "pyarrow", "great_expectations", "presidio_analyzer", "presidio_anonymizer", "spacy",
         "jieba", "onnxruntime", "jinja2", "openpyxl", "boto3", "scipy", "sqlalchemy"}
MODULE_BUDGET = 300  # 157 when written (706 before: pandas, pyarrow and numpy through handover.analytics)


def test_opening_the_work_area_imports_nothing_heavy_and_costs_little_cpu(tmp_path, sample_contract):
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", PROBE, str(sample_contract), str(tmp_path / "work")],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert HEAVY.isdisjoint(runs[0]["top"]), sorted(HEAVY & set(runs[0]["top"]))
    assert runs[0]["modules"] <= MODULE_BUDGET
    assert min(r["cpu"] for r in runs) < 1.0  # 0.3 s when written (0.8 s before), with the contract read
