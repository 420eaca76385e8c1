"""Cross-border transfer (PIPL Art. 38–40): data may leave its jurisdiction only on a recorded approval.

The contract says where the data is held today (``transfer.jurisdiction``); the target store declares
where it is (the ``region`` extra of connection ``handover_target``). When they differ the run refuses,
unless the trigger carries the reference of a recorded approval — a CAC security assessment, a standard
contract filing or a personal-information-protection certification. The approval then goes into the
manifest and the audit log.
"""

from __future__ import annotations

import re

from handover.errors import JurisdictionError

APPROVAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{3,127}$")


def check(source: str, target: str | None, approval: str | None) -> dict:
    """Return the cross-border record for the manifest, or raise JurisdictionError."""
    if not target:
        raise JurisdictionError(
            "the target store does not declare its region: set the extra field 'region' of connection "
            "handover_target (an ISO 3166-1 code such as CN) so the run can tell whether data leaves "
            f"its jurisdiction ({source})")
    target = target.strip().upper()
    if target == source:
        return {"cross_border": False, "source": source, "target": target}
    if not approval:
        raise JurisdictionError(
            f"the data is held in {source} but the target store is in {target}: a cross-border transfer "
            "(PIPL Art. 38–40) needs a recorded approval; trigger the run with cross_border_approval set "
            "to its reference (security assessment, standard contract filing or certification)")
    if not APPROVAL.match(approval.strip()):
        raise JurisdictionError("cross_border_approval must be a reference number (4–128 letters, digits, "
                                "'/', '-', '_', '.', ':'), not free text")
    return {"cross_border": True, "source": source, "target": target, "approval": approval.strip()}
