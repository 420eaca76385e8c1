"""Airflow glue for ``customer_notice``: the channels' settings from Airflow connections, the store and the
keys from Airflow's secrets; each task's work over :mod:`handover.notices` (returns counts only — they land
in XCom; no contact ever does).

- ``handover_smtp`` — e-mail: host, port, login, password; extra ``sender`` (the From address),
  ``sender_name``, ``security`` (none | starttls | ssl), ``timeout``.
- ``handover_sms`` — the SMS provider: host (the API's URL, e.g. ``https://sms.example.cn/api``), password
  (the signing secret); extra ``account``, ``sign_name``, ``timeout``.
- Letters: ``<output root>/notices/<branch>/letters/`` (owner-only files, the print house's intake).
- Variable ``handover_notice_delivery`` (JSON): ``batch``, ``per_second``, ``backoff`` (seconds), ``deadline``.

A channel whose connection is missing is not configured: its messages are skipped with that reason and the
notices fall back to their next channel.
"""

from __future__ import annotations

import json
import logging

from handover_airflow.runtime import master_key
from handover_airflow.settings import open_store, output_root

log = logging.getLogger(__name__)
SMTP_CONN_ID = "handover_smtp"
SMS_CONN_ID = "handover_sms"
DELIVERY_VARIABLE = "handover_notice_delivery"


def _connection(conn_id: str):
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    if conn.password:
        mask_secret(conn.password)
    return conn


def smtp_settings():
    from handover.notices.channels import SmtpSettings

    conn = _connection(SMTP_CONN_ID)
    if conn is None:
        return None
    extra = conn.extra_dejson or {}
    return SmtpSettings(host=conn.host or "localhost", port=int(conn.port or 25),
                        sender=extra.get("sender") or conn.login or "noreply@localhost",
                        sender_name=extra.get("sender_name"), username=conn.login or None,
                        password=conn.password or None, security=extra.get("security", "none"),
                        timeout=float(extra.get("timeout", 30)))


def sms_settings():
    from handover.notices.channels import SmsSettings

    conn = _connection(SMS_CONN_ID)
    if conn is None:
        return None
    extra = conn.extra_dejson or {}
    url = conn.host or ""
    if "://" not in url:
        url = f"{conn.conn_type if conn.conn_type in ('http', 'https') else 'https'}://{url}" + \
              (f":{conn.port}" if conn.port else "") + (f"/{conn.schema}" if conn.schema else "")
    return SmsSettings(url=url, secret=conn.password or "", account=extra.get("account"),
                       sign_name=extra.get("sign_name"), timeout=float(extra.get("timeout", 15)))


def delivery_settings():
    from airflow.sdk import Variable
    from handover.notices.deliver import DeliverySettings

    said = json.loads(Variable.get(DELIVERY_VARIABLE, default=None) or "{}")
    if "backoff" in said:
        said["backoff"] = tuple(float(s) for s in said["backoff"])
    return DeliverySettings(**said)


def _contract(path: str, branch_id: str | None):
    from handover.contract import load_contract
    from handover.errors import HandoverError

    contract = load_contract(path)
    if branch_id and branch_id != contract.branch_id:
        raise HandoverError(f"branch_id {branch_id} is not the branch of contract {path} ({contract.branch_id})")
    return contract


def target_of(params: dict, events: list) -> tuple[str, str | None] | None:
    """The contract and branch to notify: the params, or — run by the target store's Asset — what the
    transfer that updated it said (a dry run updates nothing: None)."""
    for event in reversed(events or []):
        extra = getattr(event, "extra", None) or {}
        if extra.get("contract"):
            return (None if extra.get("dry_run") else (extra["contract"], extra.get("branch_id")))
    return params["contract"], params.get("branch_id") or None


def prepare_notices(contract_path: str, branch_id: str | None, prepared_on: str | None, requested_by: str) -> dict:
    import datetime as dt

    from handover.notices import outbox
    from handover.purge.rules import today_in_shanghai
    from handover.store import ops

    contract = _contract(contract_path, branch_id)
    day = dt.date.fromisoformat(prepared_on) if prepared_on else today_in_shanghai()
    with open_store() as conn:
        result = outbox.prepare(conn, contract, prepared_on=day, requested_by=requested_by)
        ops.audit(conn, "notices.prepared", run_id=None, branch_id=contract.branch_id, actor=requested_by,
                  notice_run=result["notice_run"], new=result["new"], by_channel=result["by_channel"])
    log.info("notices prepared: %s", result)
    return result | {"contract": contract_path}


def deliver_notices(prepared: dict) -> dict:
    from handover.notices import deliver
    from handover.notices.channels import LetterBatch, SmsGateway, SmtpChannel

    contract = _contract(prepared["contract"], prepared["branch_id"])
    channels = {"letter": LetterBatch(output_root() / "notices" / contract.branch_id / "letters")}
    if (smtp := smtp_settings()) is not None:
        channels["email"] = SmtpChannel(smtp)
    if (sms := sms_settings()) is not None:
        channels["sms"] = SmsGateway(sms)
    with open_store() as conn:
        deliverer = deliver.Deliverer(conn, deliver.ciphers(conn, master_key()),
                                      deliver.RunFacts(conn, {contract.branch_id: contract}), channels,
                                      delivery_settings())
        counts = deliverer.drain()
        reports = deliver.collect_reports(conn, channels["sms"]) if "sms" in channels else {}
    log.info("delivered: %s; delivery reports: %s", counts, reports)
    return {"sent": counts, "reports": reports, "branch_id": contract.branch_id, "contract": prepared["contract"]}


def report_notices(delivered: dict, requested_by: str) -> dict:
    """Counts by status, channel and reason; the public announcement (公告) for the customers no channel
    reached (no customer named in it); both to ``<output>/notices/<branch>/``; an audit entry."""
    import datetime as dt

    from handover import private_files
    from handover.notices import outbox, render
    from handover.purge.rules import today_in_shanghai
    from handover.store import ops

    contract = _contract(delivered["contract"], delivered["branch_id"])
    with open_store() as conn:
        summary = outbox.counts(conn, branch_id=contract.branch_id)
        ops.audit(conn, "notices.reported", run_id=None, branch_id=contract.branch_id, actor=requested_by,
                  **summary)
    folder = output_root() / "notices" / contract.branch_id
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    unreachable = summary["by_status"].get("announcement", 0)
    paths = {}
    if unreachable:
        text = render.announcement(render.NoticeFacts.of(contract, today_in_shanghai()), unreachable)
        paths["announcement"] = folder / f"公告-{stamp}.txt"
        paths["announcement"].write_text(text, encoding="utf-8")
    paths["report"] = folder / f"report-{stamp}.json"
    private_files.write(paths["report"], json.dumps(summary | {"delivery": delivered["sent"]}, ensure_ascii=False,
                                                    indent=2).encode())
    log.info("notices: %s", summary)
    return summary | {k: str(v) for k, v in paths.items()}

