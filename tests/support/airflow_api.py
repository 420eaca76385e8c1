"""Tokens as the Airflow API server's auth manager mints them at login."""

from __future__ import annotations


def token(*, role: str | None = "viewer", expires_in: int | None = None) -> str:
    """A JWT as Airflow's auth manager mints it at login (a Viewer: the least role that may see the UI)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    user = SimpleAuthManagerUser(username="handover-viewer", role=role)
    kwargs = {} if expires_in is None else {"expiration_time_in_seconds": expires_in}
    return get_auth_manager().generate_jwt(user, **kwargs)
