"""Handover's Airflow plugin: the "Handover" page in the Airflow 3 UI.

- ``fastapi_apps``: the page's FastAPI app (:mod:`handover_airflow.ui`), mounted by the API server under
  ``/handover`` (not one of Airflow's reserved prefixes ``/api/v2``, ``/ui``, ``/execution``, ``/auth``,
  ``/pluginsv2``). Every route requires an authenticated Airflow user.
- ``external_views``: a top-level navigation entry "Handover" (destination ``nav``, no category). With
  ``url_route`` the UI shows the page inside its own frame at ``/plugin/handover``; ``href`` is what it loads.

Every Airflow component imports this file (the task runner too, for macros), so it stays light: the app
object is a small ASGI callable that builds the FastAPI app on its first request, in the API server.
"""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from handover_airflow.ui import URL_PREFIX, app


def _href() -> str:
    """``/handover/`` under the API server's base URL path (``[api] base_url`` ``https://host/airflow/`` →
    ``/airflow/handover/``)."""
    try:
        from urllib.parse import urlsplit

        from airflow.configuration import conf

        root = urlsplit(conf.get("api", "base_url", fallback="") or "").path
    except Exception:  # noqa: BLE001 — a link at the default place rather than no plugin
        root = ""
    return root.rstrip("/") + URL_PREFIX + "/"


class HandoverPlugin(AirflowPlugin):
    name = "handover"
    fastapi_apps: ClassVar[list] = [{"app": app, "url_prefix": URL_PREFIX, "name": "Handover"}]
    external_views: ClassVar[list] = [{"name": "Handover", "href": _href(), "destination": "nav",
                                       "url_route": "handover"}]
