"""A person answering an Airflow Human-in-the-loop step, for `dag.test()` runs: waits until the task is parked
in ``awaiting_input``, then records the response exactly as Airflow's REST handler does
(``PATCH …/hitlDetails``: the HITL detail's response fields, then ``handle_event_submit``, which schedules the
task's ``execute_complete``) — in a thread, while `dag.test()` waits for it."""

from __future__ import annotations

import threading
import time


def respond_when_asked(dag_id: str, task_id: str, chosen: list[str], user: dict, params_input: dict | None = None,
                       timeout: float = 120) -> threading.Thread:
    def answer() -> None:
        from airflow._shared.timezones import timezone
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with create_session() as session:
                ti = session.scalars(select(TaskInstance).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id,
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT)).first()
                if ti is not None:
                    detail = session.scalars(select(HITLDetail).where(HITLDetail.ti_id == ti.id)).one()
                    detail.responded_by = user
                    detail.responded_at = timezone.utcnow()
                    detail.chosen_options = chosen
                    detail.params_input = params_input or {}
                    session.add(detail)
                    handle_event_submit(TriggerEvent(detail.as_resume_event_payload()), task_instance=ti,
                                        session=session)
                    return
            time.sleep(0.5)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread
