"""Contracts the tests make: the sample contract with one change."""

from __future__ import annotations

from pathlib import Path

import yaml


def contract_variant(sample_contract: Path, tmp_path: Path, change) -> Path:
    """The sample contract changed by ``change(doc)``, written into ``tmp_path`` beside its retention schedule."""
    doc = yaml.safe_load(sample_contract.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    (tmp_path / "retention.yaml").write_bytes((sample_contract.parent / "retention.yaml").read_bytes())
    return path
