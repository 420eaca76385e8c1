"""`handover.upkeep` without a store: the vault's spec the re-check uses, and how a run's counts become the
findings whose remediation items open and close."""

from __future__ import annotations

import datetime as dt

from handover import canonical, upkeep


def _counts(failing=0, expired=0, merged=0, bounced=0) -> dict:
    return {"revalidation": {"checked": 10, "failing": failing,
                             "entities": {"customers": {"checked": 10, "failing": failing, "chunks": 1,
                                                        "reasons": {"mobile:invalid_mobile": failing} if failing else {}}}},
            "expired_document": {"expired": expired, "by_type": {}},
            "merge_candidate": {"groups": merged // 2, "customers": merged, "by_identifier": {}},
            "bounced_contact": {"customers": bounced, "by_reason": {}}}


def test_the_spec_is_every_canonical_field_but_free_text():
    for name, entity in canonical.ENTITIES.items():
        spec = upkeep.canonical_spec(name)
        assert [c.name for c in spec.columns] == [f.name for f in entity.fields if f.pii != "free_text"]
        assert [c.name for c in spec.columns if c.key] == [entity.key]
    assert "note" not in [c.name for c in upkeep.canonical_spec("interactions").columns]


def test_each_kind_fails_when_it_names_a_record_and_passes_when_it_names_none():
    clean = upkeep.findings(_counts())
    assert [f.check for f in clean] == [c for c, _ in upkeep.CHECKS.values()] and all(f.passed for f in clean)
    found = {f.check: f for f in upkeep.findings(_counts(failing=2, merged=2))}
    assert not found["upkeep_revalidation"].passed and not found["upkeep_merge_candidates"].passed
    assert found["upkeep_expired_documents"].passed and found["upkeep_bounced_contacts"].passed
    assert found["upkeep_revalidation"].evidence["reasons"] == {"mobile:invalid_mobile": 2}
    assert upkeep.open_items(_counts(bounced=3))["bounced_contact"] == 3


def test_a_run_belongs_to_its_month():
    assert upkeep.month_of(dt.date(2026, 3, 31)) == upkeep.month_of(dt.date(2026, 3, 1)) == dt.date(2026, 3, 1)
