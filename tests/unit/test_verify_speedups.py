"""The per-chunk shortcuts give the same answers as the plain rules."""

import datetime as dt

import pandas as pd
from handover import validators as v


def _ids():
    good = "11010519491231002X"
    male = "110105194912310037"
    return [good, male, None, "", "1101051949123100", good, 12345, "11010519491231002x", "990105194912310021"]


def test_remembering_matches_plain_rule_and_forgets():
    values = pd.Series(_ids(), dtype=object)
    plain = list(v.resident_ids_ok(values))
    with v.remembering():
        assert list(v.resident_ids_ok(values)) == plain
        assert list(v.resident_ids_ok(values[::-1])) == plain[::-1]  # answered from the memo
        assert v._remembered.get()
    assert v._remembered.get() is None
    assert plain == [v.is_resident_id(x) for x in values]


def test_today_bypasses_memo():
    values = pd.Series(_ids(), dtype=object)
    with v.remembering():
        v.resident_ids_ok(values)
        assert list(v.resident_ids_ok(values, today=dt.date(1949, 1, 1))) == [False] * len(values)


def test_sexes_and_births():
    values = pd.Series(_ids(), dtype=object)
    assert list(v.resident_id_sexes(values)) == [v.resident_id_sex(x) for x in values]
    births = [v.resident_id_birth_date(x) for x in values]
    assert list(v.resident_id_births(values)) == [b.isoformat() if b else None for b in births]
