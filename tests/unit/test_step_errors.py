"""How a task's step's errors reach Airflow (`handover_airflow.runtime.step_errors`, used by the transfer's
and the change files' tasks alike): what a retry cannot mend fails the task at once, what it can is left to
the retries, and a psycopg2 error never escapes as itself (its DETAIL may quote values: `handover.errors`)."""

from __future__ import annotations

import psycopg2
import pytest
from airflow.sdk.exceptions import AirflowFailException
from handover.errors import ContractError, StoreError
from handover_airflow.runtime import step_errors


def _raised(exc: BaseException) -> BaseException:
    with pytest.raises(BaseException) as caught, step_errors("settle"):
        raise exc
    return caught.value


def test_a_wrong_contract_fails_the_task_at_once():
    told = _raised(ContractError("c.yaml", ["column 手机号码: unknown format"]))
    assert isinstance(told, AirflowFailException) and "c.yaml" in str(told)


def test_a_transient_store_error_is_left_to_the_retries_and_a_lasting_one_fails_at_once():
    lost = StoreError("settle: the connection was lost", transient=True)
    assert _raised(lost) is lost
    assert isinstance(_raised(StoreError("settle: constraint", transient=False)), AirflowFailException)


def test_a_psycopg2_error_is_told_as_a_store_error_of_the_step():
    told = _raised(psycopg2.OperationalError("server closed the connection unexpectedly"))
    assert isinstance(told, StoreError) and told.transient and str(told).startswith("settle: PostgreSQL error")


def test_anything_else_passes_as_it_is():
    boom = RuntimeError("a bug")
    assert _raised(boom) is boom
    with step_errors("settle"):
        value = 3
    assert value == 3
