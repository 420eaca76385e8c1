"""The Airflow API app the page's tests talk to (tokens: tests.support.airflow_api)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def api(airflow_db):
    """Airflow's API server app, built as `airflow api-server` builds it (plugins from plugins/), with
    SimpleAuthManager (the default) and *without* its all-admins mode, which would sign every request in."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        app = create_app()
        assert isinstance(get_auth_manager(), SimpleAuthManager)
        yield app
