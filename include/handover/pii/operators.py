"""Handover's operators as Presidio anonymizer operators (the rules themselves: :mod:`handover.pii.values`,
whose docstring describes each operator, the tags, tokens and generalisation levels)."""

from __future__ import annotations

import base64
from functools import lru_cache

import pyarrow as pa
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import InvalidParamError
from presidio_anonymizer.operators import Operator, OperatorType

from handover.crypto import FieldCipher, Hasher
from handover.masks import keep_ends
from handover.pii.values import (
    BIRTH_DATE,
    FREE_TEXT,
    GENERALIZE_LEVELS,
    GENERIC_TAG,
    PRESIDIO_NAMES,
    TAGS,
    TOKEN_HEX,
    TOKEN_PREFIX,
    generalize,
    generalize_many,
    normalise,
    pseudonym,
    pseudonyms,
    tag,
)

# --------------------------------------------------------------------------------------------------
# Presidio operators
# --------------------------------------------------------------------------------------------------


def _kind(params: dict) -> str:
    return params.get("kind") or params.get("entity_type") or ""


class Pseudonymize(Operator):
    """Params: ``hasher`` (a :class:`Hasher` under the pseudonym key), optional ``kind`` (default: the
    entity type — the join domain)."""

    def operate(self, text: str, params: dict | None = None) -> str:
        params = params or {}
        return pseudonym(params["hasher"], _kind(params), text)

    def validate(self, params: dict | None = None) -> None:
        if not isinstance((params or {}).get("hasher"), Hasher):
            raise InvalidParamError("pseudonymize needs `hasher`: a handover.crypto.Hasher (never a raw key)")

    def operator_name(self) -> str:
        return "pseudonymize"

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


class Generalize(Operator):
    """Params: optional ``level``, optional ``kind`` (default: the entity type). An entity without a
    generalizer becomes its tag: free text never keeps a value because no rule coarsens it."""

    def operate(self, text: str, params: dict | None = None) -> str:
        params = params or {}
        kind = _kind(params)
        if kind not in GENERALIZE_LEVELS:
            return tag(kind)
        return generalize(kind, text, params.get("level"))

    def validate(self, params: dict | None = None) -> None:
        params = params or {}
        kind, level = _kind(params), params.get("level")
        if level is not None and kind in GENERALIZE_LEVELS and level not in GENERALIZE_LEVELS[kind]:
            raise InvalidParamError(f"{kind} generalises to {' or '.join(GENERALIZE_LEVELS[kind])}")

    def operator_name(self) -> str:
        return "generalize"

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


class MaskEnds(Operator):
    """Params: ``keep_first``, ``keep_last`` (characters kept; the middle is starred)."""

    def operate(self, text: str, params: dict | None = None) -> str:
        params = params or {}
        return mask_ends([text], params.get("keep_first", 1), params.get("keep_last", 1))[0]

    def validate(self, params: dict | None = None) -> None:
        params = params or {}
        for key in ("keep_first", "keep_last"):
            n = params.get(key, 1)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise InvalidParamError(f"mask_ends: {key} must be a whole number >= 0")

    def operator_name(self) -> str:
        return "mask_ends"

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


class VaultEncrypt(Operator):
    """Params: ``cipher`` (a :class:`FieldCipher`), ``column`` (the associated data). Returns base64."""

    def operate(self, text: str, params: dict | None = None) -> str:
        params = params or {}
        blob = params["cipher"].encrypt(text, params["column"])
        return base64.b64encode(blob).decode("ascii")

    def validate(self, params: dict | None = None) -> None:
        params = params or {}
        if not isinstance(params.get("cipher"), FieldCipher):
            raise InvalidParamError(
                "vault_encrypt needs `cipher`: a handover.crypto.FieldCipher (never a raw key)"
            )
        if not isinstance(params.get("column"), str) or not params["column"]:
            raise InvalidParamError("vault_encrypt needs `column`: the column name bound as associated data")

    def operator_name(self) -> str:
        return "vault_encrypt"

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


CUSTOM_OPERATORS: tuple[type[Operator], ...] = (Pseudonymize, Generalize, MaskEnds, VaultEncrypt)


def mask_ends(values, keep_first: int, keep_last: int) -> list[str | None]:
    """:func:`handover.masks.keep_ends` on a list of values (the display mask's rule, one place)."""
    return keep_ends(pa.array(list(values), pa.string()), keep_first, keep_last).to_pylist()


@lru_cache(maxsize=1)
def anonymizer_engine() -> AnonymizerEngine:
    """Presidio's anonymizer with Handover's operators added (built once)."""
    engine = AnonymizerEngine()
    for operator in CUSTOM_OPERATORS:
        engine.add_anonymizer(operator)
    return engine


__all__ = [
    "BIRTH_DATE",
    "CUSTOM_OPERATORS",
    "FREE_TEXT",
    "GENERALIZE_LEVELS",
    "GENERIC_TAG",
    "PRESIDIO_NAMES",
    "TAGS",
    "TOKEN_HEX",
    "TOKEN_PREFIX",
    "Generalize",
    "MaskEnds",
    "Pseudonymize",
    "VaultEncrypt",
    "anonymizer_engine",
    "generalize",
    "generalize_many",
    "mask_ends",
    "normalise",
    "pseudonym",
    "pseudonyms",
    "tag",
]
