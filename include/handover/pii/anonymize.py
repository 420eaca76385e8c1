"""Applying the masking policy: to a whole structured column, and to free text.

:func:`apply_column` transforms an Arrow column. ``mask``, ``redact`` and ``replace`` are Arrow compute
over the whole column; ``pseudonymize``, ``generalize`` and free text work on the column's distinct
values (dictionary-encode → transform each distinct value once → take), so a million rows with ten
thousand distinct values cost ten thousand transformations. ``encrypt`` is per row on purpose: each value
gets a fresh nonce, and equal plaintexts must not give equal ciphertexts.

:func:`anonymize_text` runs the step-1 analyzer and Presidio's anonymizer with the policy's operators.
Overlapping spans are settled before the anonymizer sees them: the higher score wins, then the longer span,
then the earlier one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine
from presidio_anonymizer.entities import RecognizerResult

from handover.crypto import FieldCipher, Hasher
from handover.masks import keep_ends
from handover.pii import operators
from handover.pii.engine import PiiScanError, scan
from handover.pii.operators import FREE_TEXT, GENERALIZE_LEVELS, anonymizer_engine, tag
from handover.pii.policy import MaskingPolicy, Rule, parse_rules, uniform

Span = tuple[str, int, int, float]


def resolve_overlaps(spans: Sequence[Span]) -> list[Span]:
    """Of overlapping spans keep the higher score, then the longer, then the earlier; in text order."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s[3], -(s[2] - s[1]), s[1])):
        if all(span[2] <= k[1] or span[1] >= k[2] for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s[1])


def anonymize_text(
    text: str | None,
    analyzer: AnalyzerEngine,
    policy: MaskingPolicy | None = None,
    *,
    hasher: Hasher | None = None,
    cipher: FieldCipher | None = None,
    column: str = "text",
) -> str | None:
    """``text`` with every PII span the analyzer finds replaced by the policy's operator for its entity
    (default: its tag, <手机号>). Errors name the column and the text's length, never its content."""
    if not text:
        return text
    policy = policy or MaskingPolicy()
    spans = resolve_overlaps(scan(text, analyzer))
    if not spans:
        return text
    found = [RecognizerResult(entity, start, end, score) for entity, start, end, score in spans]
    configs = policy.text_operators(hasher=hasher, cipher=cipher, column=column)
    try:
        result = anonymizer_engine().anonymize(
            text=text, analyzer_results=found, operators=configs, merge_entities_with_spaces=False
        )
    except Exception as exc:  # noqa: BLE001  (an operator's message may quote the span)
        raise PiiScanError(
            f"{column}: anonymising a text of {len(text)} characters failed ({type(exc).__name__})"
        ) from None
    return result.text


def _strings(values: pa.Array | pa.ChunkedArray | Sequence[Any]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    elif not isinstance(values, pa.Array):
        values = pa.array(list(values))
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def _per_distinct(values: pa.Array, transform: Callable[[list[str]], list[str]]) -> pa.Array:
    encoded = values.dictionary_encode()  # nulls stay null in the indices
    out = pa.array(transform(encoded.dictionary.to_pylist()), pa.string())
    return out.take(encoded.indices)


def _constant(values: pa.Array, text: str) -> pa.Array:
    return pc.if_else(pc.is_valid(values), pa.scalar(text, pa.string()), pa.scalar(None, pa.string()))


def apply_column(
    values: pa.Array | pa.ChunkedArray | Sequence[Any],
    rule: Rule | Mapping[str, Any],
    *,
    column: str = "column",
    kind: str | None = None,
    hasher: Hasher | None = None,
    cipher: FieldCipher | None = None,
    analyzer: AnalyzerEngine | None = None,
) -> pa.Array:
    """A whole column through one rule; nulls stay null. Strings out (binary for ``encrypt``).

    ``kind`` is what the column holds (:func:`handover.pii.policy.kind_of`); a rule's own ``kind`` wins.
    ``FREE_TEXT`` columns have the rule applied to each entity found in each text (``analyzer`` needed).
    A pseudonymized column without a kind uses ``COLUMN:<column>`` as its join domain.
    """
    if not isinstance(rule, Rule):
        rule = parse_rules({column: rule})[column]
    kind = rule.kind or kind
    strings = _strings(values)
    op = rule.operator
    if op == "encrypt":
        if cipher is None:
            raise ValueError(f"column {column}: encrypt needs the branch's FieldCipher")
        return pa.array(cipher.encrypt_many(strings.to_pylist(), column), pa.binary())
    if kind == FREE_TEXT:
        if analyzer is None:
            raise ValueError(f"column {column}: free text needs the analyzer")
        policy = uniform(rule)
        return _per_distinct(
            strings,
            lambda texts: [
                anonymize_text(t, analyzer, policy, hasher=hasher, cipher=cipher, column=column)
                for t in texts
            ],
        )
    if op == "mask":
        return keep_ends(strings, rule.params.get("keep_first", 1), rule.params.get("keep_last", 1))
    if op == "redact":
        return _constant(strings, "")
    if op == "replace":
        return _constant(strings, rule.params.get("tag") or tag(kind))
    if op == "pseudonymize":
        if hasher is None:
            raise ValueError(f"column {column}: pseudonymize needs the pseudonym Hasher")
        domain = kind or f"COLUMN:{column}"
        return _per_distinct(strings, lambda distinct: operators.pseudonyms(hasher, domain, distinct))
    # generalize
    if kind not in GENERALIZE_LEVELS:
        raise ValueError(
            f"column {column}: generalize needs a column of "
            f"{', '.join(GENERALIZE_LEVELS)} (set kind in its rule)"
        )
    level = rule.params.get("level")
    return _per_distinct(strings, lambda distinct: operators.generalize_many(kind, distinct, level))
