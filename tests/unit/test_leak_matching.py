"""How the leak scan matches (no store needed): a landline's local number is found as a whole number only."""

from __future__ import annotations

import pytest
from handover.leaks import Needles, scan_text


@pytest.fixture
def needles() -> Needles:
    found = Needles()
    found.add_identifier("landline", "021-40000199")
    found.add_identifier("mobile", "13812345678")
    return found


@pytest.mark.parametrize("text", ["电话40000199转12", "tel 4000-0199", "021-40000199", "（021）40000199",
                                  "座机 4000 0199，工作日"])
def test_a_local_number_written_alone_is_found(needles, text):
    assert [kind for kind, _ in scan_text(text, needles)] == ["landline"]


@pytest.mark.parametrize("text", ["440000/1990/M", "1440000199", "流水号240000199", "4000019900"])
def test_a_local_number_inside_another_number_is_chance_not_a_leak(needles, text):
    assert scan_text(text, needles) == []


def test_longer_identifiers_are_still_found_glued_to_other_characters(needles):
    assert [kind for kind, _ in scan_text("回拨+86 13812345678请", needles)] == ["mobile"]
    assert [kind for kind, _ in scan_text("账号X13812345678", needles)] == ["mobile"]


def test_needle_counts_include_local_numbers(needles):
    assert needles.counts()["landline"] == 2 and len(needles) == 3
