"""Shared by the end-to-end tests: the DAGs as Airflow parses them."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    return DagBag(dag_folder=str(ROOT / "dags"))
