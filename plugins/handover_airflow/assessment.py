"""Airflow glue for ``transfer_assessment``: the PIPIA drafted (:mod:`handover.pipia`) and the human decision
the approval step collected, recorded — who and when, as Airflow's Human-in-the-loop response says.
Returns references, ratings and counts only (they land in XCom)."""

from __future__ import annotations

import datetime as dt

from handover_airflow.runtime import target
from handover_airflow.settings import keys, open_store, output_root

APPROVE, REJECT = "Approve", "Reject"


def draft_assessment(params: dict, actor: str) -> dict:
    """The assessment of the contract's transfer: the counts of the branch's latest run (a dry run will do), else
    the export's; the jurisdiction as the target store declares it."""
    from airflow.sdk.exceptions import AirflowFailException
    from handover import jurisdiction, pipia
    from handover.contract import load_contract
    from handover.errors import HandoverError

    try:
        contract = load_contract(params["contract"])
        if params.get("branch_id") and params["branch_id"] != contract.branch_id:
            raise pipia.PipiaError(f"the run names branch {params['branch_id']} but the contract is for "
                                   f"{contract.branch_id}")
        crossing = jurisdiction.check(contract.jurisdiction, target()[1], params.get("cross_border_approval"))
        _, signer, _ = keys()
        with open_store() as conn:
            counts = pipia.run_counts(conn, contract.branch_id) or pipia.source_counts(contract, params.get("source"))
            return pipia.assess(conn, contract, output_root() / contract.branch_id / "pipia", signer, counts=counts,
                                crossing=crossing, approver=params.get("approver") or None,
                                reference=params.get("pipia") or None, actor=actor)
    except HandoverError as exc:
        raise AirflowFailException(str(exc)) from None


def record_decision(drafted: dict, response: dict) -> dict:
    """The Human-in-the-loop response recorded in ``control.pipia``: approved or rejected, by whom, when."""
    from airflow.sdk.exceptions import AirflowFailException
    from handover import pipia

    chosen = list(response.get("chosen_options") or [])
    user = response.get("responded_by_user") or {}
    at = response.get("responded_at")
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    decision = "approved" if chosen == [APPROVE] else "rejected"
    note = (response.get("params_input") or {}).get("note") or None
    try:
        with open_store() as conn:
            return pipia.decide(conn, drafted["reference"], decision, by=str(user.get("name") or user.get("id") or ""),
                                at=at, note=note, via="airflow:approval")
    except pipia.PipiaError as exc:
        raise AirflowFailException(str(exc)) from None
