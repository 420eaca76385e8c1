"""The Handover page's SVG charts: a stacked bar's layers add up to what the bar stands for, an empty
layer draws nothing, labels are escaped."""

from __future__ import annotations

import itertools
import re

from handover_airflow import ui

RECT = re.compile(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="([^"]+)"')


def _transfer(run_id: str, mode: str = "load", **counts) -> dict:
    totals = {"loaded": 0, "quarantined": 0, "excluded": 0, "duplicates": 0, **counts}
    totals["source_rows"] = sum(totals.values())
    return {"run_id": run_id, "branch_id": "<B1>", "mode": mode, "status": "success",
            "started_at": "2026-12-01T10:00:00+00:00", "reconciliation": {"totals": totals}}


def test_a_transfers_layers_stack_to_its_source_rows_and_empty_layers_are_not_drawn():
    svg = ui.dispositions_chart([_transfer("r2", loaded=600, quarantined=300, duplicates=100),
                                 _transfer("r1", "dry_run", loaded=50, excluded=50)])
    bars = [m for m in RECT.finditer(svg) if m.group(5) in ui.DISPOSITION_COLOURS.values() and m.group(2) != "6"]
    assert len(bars) == 3 + 2  # the zero layers (excluded of r2, two of r1) draw nothing
    # the bigger transfer (drawn second: oldest left) stacks bottom up with no gap, to its total's height
    r2 = bars[2:]
    for lower, upper in itertools.pairwise(r2):
        assert abs(float(upper.group(2)) + float(upper.group(4)) - float(lower.group(2))) < 0.2
    heights = [float(b.group(4)) for b in r2]
    assert abs(heights[0] / heights[1] - 2) < 0.01 and abs(heights[1] / heights[2] - 3) < 0.05
    assert "&lt;B1&gt;" in svg and "<B1>" not in svg
    assert 'fill-opacity="0.45"' in svg and "pale: dry run" in svg


def test_a_reviews_failed_checks_stack_by_severity_under_the_passed_ones():
    svg = ui.review_chart([{"review_id": 7, "passed": 6, "failed": 4, "by_severity": {"high": 1, "low": 3},
                            "at": "2026-11-30T00:00:00+00:00"}])
    drawn = [(m.group(5), float(m.group(4))) for m in RECT.finditer(svg) if m.group(2) != "6"]
    assert [c for c, _ in drawn] == [ui.SEVERITY_COLOURS["high"], ui.SEVERITY_COLOURS["low"], "#2f855a"]
    assert abs(drawn[2][1] / drawn[0][1] - 6) < 0.05 and "review 7: 3 low failed" in svg
