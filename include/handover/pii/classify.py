"""``pii: auto``: deciding what a column holds by scanning a sample of its values.

Up to :data:`SAMPLE` distinct non-empty values are scanned. A value *is* an entity when one span of that
entity covers at least :data:`COVER` of it (a mobile column, a name column); a value *contains* PII when
it has spans but none covers it (a note). The column is the entity that at least :data:`SHARE` of the
sampled values are; failing that, it is ``FREE_TEXT`` if any sampled value contains PII (every value is
then scanned and masked — the safe side), else nothing (None).

Whole-value matches count from score 0.3: a bare 王秀英 scores 0.3 without a context word, but a column
of values that are each entirely a name is the context. The decision record holds counts only, never a
value, and goes into the run's report as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from presidio_analyzer import AnalyzerEngine

from handover.pii.engine import scan
from handover.pii.operators import FREE_TEXT

SAMPLE = 200
SHARE = 0.6
COVER = 0.9
SCORE = 0.3


@dataclass(frozen=True)
class Classification:
    """What sampling decided for a column. Unpacks as ``(entity, share, sampled)``."""

    entity: str | None
    share: float  # of the sampled values, the share that are the leading entity
    sampled: int
    counts: dict[str, int] = field(default_factory=dict)  # entity → values that are it
    containing: int = 0  # values with PII inside but not whole

    def __iter__(self):
        return iter((self.entity, self.share, self.sampled))

    @property
    def reason(self) -> str:
        if self.sampled == 0:
            return "no non-empty values to sample"
        if self.entity and self.entity != FREE_TEXT:
            return f"{self.entity} on {self.counts[self.entity]} of {self.sampled} sampled values"
        if self.entity == FREE_TEXT:
            return f"PII inside {self.containing} of {self.sampled} sampled values"
        return f"no entity on {SHARE:.0%} of {self.sampled} sampled values, no PII inside any"

    def report(self) -> dict[str, Any]:
        """The record for the run's report (counts only)."""
        return {
            "entity": self.entity,
            "share": round(self.share, 4),
            "sampled": self.sampled,
            "counts": dict(sorted(self.counts.items())),
            "containing_pii": self.containing,
            "rule": {"sample": SAMPLE, "share": SHARE, "cover": COVER},
            "reason": self.reason,
        }


def _sample(values: Iterable[Any], limit: int) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if isinstance(v, str) and v.strip() and v not in seen:
            seen[v] = None
            if len(seen) >= limit:
                break
    return list(seen)


def classify_column(
    values: Iterable[Any], analyzer: AnalyzerEngine, *, sample: int = SAMPLE
) -> Classification:
    """Decide a ``pii: auto`` column's entity from up to ``sample`` distinct non-empty values."""
    if hasattr(values, "to_pylist"):
        values = values.to_pylist()
    distinct = _sample(values, sample)
    counts: Counter[str] = Counter()
    containing = 0
    for value in distinct:
        text = value.strip()
        spans = scan(text, analyzer, score_threshold=SCORE)
        whole = [s for s in spans if (s[2] - s[1]) >= COVER * len(text)]
        if whole:
            counts[max(whole, key=lambda s: (s[3], s[2] - s[1]))[0]] += 1
        elif spans:
            containing += 1
    n = len(distinct)
    leader, top = counts.most_common(1)[0] if counts else (None, 0)
    share = top / n if n else 0.0
    if leader and share >= SHARE:
        entity = leader
    elif containing:
        entity = FREE_TEXT
    else:
        entity = None
    return Classification(entity, share, n, dict(counts), containing)
