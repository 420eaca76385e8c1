"""The vectorised fast paths (normalise, CSV reader) give exactly what the general per-value/per-row code gives."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from handover import normalise as n
from handover.sources import csv as csv_source


def test_re2_blank_class_is_pythons_whitespace():
    assert set(n._PY_SPACES) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


@pytest.mark.parametrize(("type", "parse", "values"), [
    ("date", n._parse_date, ["2024-01-05", "2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01",
                             "0001-01-01", "9999-12-31", "2024-13-01", "2024-00-10", "2024-04-31", "2024-1-5"]),
    ("datetime", n._parse_datetime, ["2024-01-05 13:45:00", "2024-01-05T23:59:59", "2023-02-29 00:00:00",
                                     "2024-01-05 24:00:00", "2024-01-05 12:00:60", "0000-01-01 00:00:00"]),
    ("amount", n._parse_amount, ["0", "0.5", "12", "12.5", "12.50", "-0", "-0.5", "-12.5", "00.5", "1" * 16]),
    ("integer", n._parse_integer, ["0", "-0", "12", "-12", "012", "1" * 18, "1" * 19, "+5"]),
])
def test_fast_paths_agree_with_the_scalar_parsers(type, parse, values):
    got, bad = n.normalise_column(pd.Series(values, dtype=object), type)
    expected = [parse(v) for v in values]
    assert list(got) == expected
    assert list(bad) == [e is None for e in expected]


@pytest.mark.parametrize(("fmt", "value"), [
    ("mobile", "8613800138000"), ("mobile", "138 0013 8000"), ("landline", "028-1234-5678"),
    ("landline", "(010)12345678"), ("resident_id", "11010519491231002x"), ("bank_card", "6222-0200"),
    ("uscc", "91310000ma1fl8lq0t"), ("email", "A@B.COM"), (None, "\u3000x\u200b"), ("free_text", " x\n"),
])
def test_values_off_the_fast_path_still_get_cleaned(fmt, value):
    typ = "string"
    mixed = pd.Series(["13800138000", value, "028-58072719", value], dtype=object)
    got, _ = n.normalise_column(mixed, typ, fmt)
    alone, _ = n.normalise_column(pd.Series([value], dtype=object), typ, fmt)
    assert got[1] == got[3] == alone[0]


def test_chunk_checks_find_the_rare_suspect_row():
    header = ["a", "b", "c"]
    rows = [("1", "x", "y")] * 5 + [("2", "x", "=cmd")] + [("", " ", "")] + [("3", "x", '"=q"')]
    texts = ["1,x,y\n"] * 5 + ["2,x,=cmd\n", ", ,\n", '3,x,"=q"\n']
    found = csv_source._suspects(rows, texts, False, 3, [], "utf-8", header, csv_source._cell_start_re(","))
    assert {5, 6, 7} <= set(found) and not set(found) & {0, 1, 2, 3, 4}
