"""Airflow glue for ``incident_response``: each task one step of :mod:`handover.incident` against the target
store (containment through connection ``handover_admin`` when there is one: ``ALTER ROLE`` needs CREATEROLE),
the keys from Airflow's secrets — the new master key from Variable ``handover_master_key_next``, which then
replaces ``handover_master_key`` — and the files under ``<output>/incidents/<reference>/``. Counts only in
XCom."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from handover_airflow.runtime import _secret, _setting, dsn_from_connection, step_errors
from handover_airflow.settings import cold_archive_destination, destination, keys, open_store, output_root

ADMIN_CONN_ID = "handover_admin"
NEXT_MASTER_KEY_VARIABLE = "handover_master_key_next"


def _fail(exc: Exception):
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


@contextmanager
def _admin():
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        dsn = dsn_from_connection(Connection.get(ADMIN_CONN_ID))
    except AirflowNotFoundException:
        dsn = None
    with open_store(dsn) as conn:
        yield conn


def _folder(reference: str):
    return output_root() / "incidents" / reference.replace("/", "_")


def _next_master():
    from handover.crypto import MasterKey

    text = _secret(NEXT_MASTER_KEY_VARIABLE)
    return MasterKey.from_text(text) if text else None


def open_incident(params: dict, actor: str) -> dict:
    from handover import incident

    detected = params.get("detected_at")
    detected_at = dt.datetime.fromisoformat(detected) if detected else dt.datetime.now(dt.UTC)
    if detected_at.tzinfo is None:
        detected_at = detected_at.replace(tzinfo=dt.UTC)
    try:
        with open_store() as conn:
            return incident.open_incident(conn, params["incident_ref"], params["kind"],
                                          branches=list(params.get("branches") or []),
                                          window=(params.get("window_start"), params.get("window_end")),
                                          tables=list(params.get("tables") or []), detected_at=detected_at,
                                          dry_run=bool(params["dry_run"]), actor=actor,
                                          keys=list(params.get("keys") or ["master"]))
    except incident.IncidentError as exc:
        raise _fail(exc) from None


def contain(opened: dict, actor: str) -> dict:
    from handover import incident

    pattern = _setting("handover_incident_logins", "HANDOVER_INCIDENT_LOGINS", "%")
    with _admin() as conn:
        done = incident.contain(conn, opened["reference"], dry_run=opened["dry_run"], actor=actor, logins_like=pattern)
        incident.record_step(conn, opened["reference"], f"contained {done['logins']} logins")
    return done


def rotate_master_key(opened: dict, actor: str) -> dict:
    from pathlib import Path

    from handover import incident

    old, _, _ = keys()
    with open_store() as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT archive_path, branch_id FROM ops.archives")
            archives = [(p, f"archive:{b}") for p, b in cur.fetchall() if Path(p).exists()]
        conn.rollback()
        try:
            done = incident.rotate_master_key(conn, opened["reference"], old, _next_master(), dest=destination(),
                                              archives=archives, cold_dest=cold_archive_destination()[0],
                                              dry_run=opened["dry_run"], actor=actor)
        except incident.IncidentError as exc:
            raise _fail(exc) from None
        if done.get("rotated"):
            incident.record_step(conn, opened["reference"], "master key rotated")
    return done


def _current_master(rotated: dict):
    """The master key that wraps the store's keys after the rotation step (the new one if it rotated)."""
    return _next_master() if rotated.get("rotated") else keys()[0]


def retokenise_analytics(opened: dict, rotated: dict, actor: str) -> dict:
    from handover import incident

    if "pseudonym" not in opened["scope"].get("keys", []):
        return {"retokenised": False, "reason": "the pseudonym key is not in the incident's scope"}
    with step_errors("retokenise_analytics"), open_store() as conn:  # a refusal or a denied UPDATE: at once
        done = incident.retokenise_analytics(conn, opened["reference"], _current_master(rotated),
                                             dry_run=opened["dry_run"], actor=actor)
        if done.get("retokenised") and not done.get("already_done"):
            incident.record_step(conn, opened["reference"], "analytics tier re-tokenised under a new pseudonym key")
    return done


def list_affected(opened: dict, rotated: dict, actor: str) -> dict:
    from handover import incident

    master = _current_master(rotated)  # sealed under the key that is not exposed
    with open_store() as conn:
        done = incident.affected(conn, opened["reference"], master, _folder(opened["reference"]), actor=actor)
    return {k: v for k, v in done.items() if k != "sealed"} | {"sealed": done["sealed"]}


def draft_notices(opened: dict, found: dict, actor: str) -> dict:
    from handover import incident

    contact = _setting("handover_incident_contact", "HANDOVER_INCIDENT_CONTACT", "个人信息保护负责人")
    categories = [t for t in opened["scope"]["tables"]] or ["身份信息", "联系方式", "账户及交易信息"]
    with open_store() as conn:
        return incident.draft_notices(conn, opened["reference"], _folder(opened["reference"]), contact=contact,
                                      categories=categories, actor=actor, dry_run=opened["dry_run"])


def close_incident(opened: dict, actor: str) -> dict:
    from handover import incident

    with open_store() as conn:
        return incident.close(conn, opened["reference"], _folder(opened["reference"]), actor=actor)
