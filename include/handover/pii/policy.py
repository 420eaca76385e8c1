"""The masking policy: which operator protects each PII column and each entity found in free text.

A rule is data — ``{"operator": "mask", "keep_first": 3, "keep_last": 4}`` — so a contract can carry
per-column overrides. The keys each operator takes (all optional):

================ ==========================================================================
``encrypt``      (none: the branch's :class:`~handover.crypto.FieldCipher` is supplied at run time)
``pseudonymize`` ``kind``: the join domain (an entity name such as ``CN_MOBILE``)
``mask``         ``keep_first``, ``keep_last``: characters kept at each end (default 1, 1)
``generalize``   ``level`` (see :data:`~handover.pii.operators.GENERALIZE_LEVELS`), ``kind``
``redact``       (none)
``replace``      ``tag``: the text put in place of the value (default: the entity's tag, <手机号>)
================ ==========================================================================

Keys (the pseudonym :class:`~handover.crypto.Hasher`, the cipher) never appear in a rule: they are
passed when the rule is applied.

:func:`column_rule` decides a column's rule: the contract's override for the column, else the default
for its kind (the entity it holds, from :func:`kind_of`), else the default for its PII class. Defaults,
for the analytics tier: identifiers that analytics joins on (name, mobile, card …) → ``pseudonymize``;
resident ID → ``generalize`` (province + birth year + sex); address → ``generalize`` to the city; birth
date → the 5-year band; plate → the province; free text → ``replace`` every entity found with its tag.
For ``purpose="display"`` (front-line screens) the rule is :mod:`handover.masks`' keep-ends mask.

:func:`parse_rules` checks a policy and raises :class:`PolicyError` listing every problem, each naming
the column (or entity) — never a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from handover.crypto import FieldCipher, Hasher
from handover.errors import HandoverError
from handover.masks import KEEP_ENDS
from handover.pii.values import BIRTH_DATE, FREE_TEXT, GENERALIZE_LEVELS, PRESIDIO_NAMES, TAGS, tag

if TYPE_CHECKING:
    from presidio_anonymizer.entities import OperatorConfig

OPERATORS = tuple(PRESIDIO_NAMES)
# operator → the keys it takes
PARAMS: dict[str, frozenset[str]] = {
    "encrypt": frozenset(),
    "pseudonymize": frozenset({"kind"}),
    "mask": frozenset({"keep_first", "keep_last"}),
    "generalize": frozenset({"level", "kind"}),
    "redact": frozenset(),
    "replace": frozenset({"tag"}),
}
DEFAULT = "DEFAULT"  # the text rule for an entity without one of its own (Presidio's key)
_KIND = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_ALL_LEVELS = frozenset(level for levels in GENERALIZE_LEVELS.values() for level in levels)


class PolicyError(HandoverError):
    """The masking policy is wrong; nothing has been masked with it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"the masking policy has {len(self.problems)} problem(s); fix them and run again:\n{lines}"
        )


@dataclass(frozen=True, eq=True)
class Rule:
    """One operator and its parameters (already checked)."""

    operator: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __hash__(self) -> int:
        return hash((self.operator, tuple(sorted(self.params.items()))))

    @property
    def kind(self) -> str | None:
        return self.params.get("kind")

    def presidio(
        self,
        entity: str | None,
        *,
        hasher: Hasher | None = None,
        cipher: FieldCipher | None = None,
        column: str = "text",
    ) -> OperatorConfig:
        """The Presidio operator config for spans of ``entity`` (None: any entity, Presidio's DEFAULT)."""
        from presidio_anonymizer.entities import OperatorConfig

        name, p = PRESIDIO_NAMES[self.operator], self.params
        if self.operator == "encrypt":
            if cipher is None:
                raise ValueError(f"{column}: encrypt needs the branch's FieldCipher")
            return OperatorConfig(name, {"cipher": cipher, "column": column})
        if self.operator == "pseudonymize":
            if hasher is None:
                raise ValueError(f"{column}: pseudonymize needs the pseudonym Hasher")
            return OperatorConfig(name, {"hasher": hasher, **({"kind": p["kind"]} if "kind" in p else {})})
        if self.operator == "mask":
            return OperatorConfig(
                name, {"keep_first": p.get("keep_first", 1), "keep_last": p.get("keep_last", 1)}
            )
        if self.operator == "generalize":
            return OperatorConfig(name, {k: p[k] for k in ("level", "kind") if k in p})
        if self.operator == "replace":
            return OperatorConfig(name, {"new_value": p.get("tag") or tag(entity)})
        return OperatorConfig(name, {})


# --------------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------------

_PSEUDONYM = Rule("pseudonymize")
DEFAULT_KIND_RULES: dict[str, Rule] = {
    "PERSON": _PSEUDONYM,
    "CN_MOBILE": _PSEUDONYM,
    "CN_LANDLINE": _PSEUDONYM,
    "EMAIL_ADDRESS": _PSEUDONYM,
    "CN_USCC": _PSEUDONYM,
    "BANK_CARD": _PSEUDONYM,
    "CN_PASSPORT": _PSEUDONYM,
    "CN_TRAVEL_PERMIT": _PSEUDONYM,
    "CN_REGIONAL_ID": _PSEUDONYM,
    "CN_RESIDENT_ID": Rule("generalize", {"level": "province"}),
    "CN_ADDRESS": Rule("generalize", {"level": "city"}),
    "CN_LICENCE_PLATE": Rule("generalize", {"level": "province"}),
    BIRTH_DATE: Rule("generalize", {"level": "band5"}),
    FREE_TEXT: Rule("replace"),
}
# A column whose kind is unknown: by its PII class. Quasi-identifiers without a generaliser are kept.
DEFAULT_CLASS_RULES: dict[str, Rule | None] = {
    "none": None,
    "quasi": None,
    "free_text": Rule("replace"),
    "sensitive": _PSEUDONYM,
    "direct": _PSEUDONYM,
}
DEFAULT_TEXT_RULES: dict[str, Rule] = {DEFAULT: Rule("replace")}

# What a column holds: canonical fields first, then the contract's ``format``.
FIELD_KINDS: dict[str, str] = {
    "name": "PERSON",
    "id_number": "CN_RESIDENT_ID",
    "uscc": "CN_USCC",
    "mobile": "CN_MOBILE",
    "landline": "CN_LANDLINE",
    "email": "EMAIL_ADDRESS",
    "address": "CN_ADDRESS",
    "birth_date": BIRTH_DATE,
    "card_number": "BANK_CARD",
    "memo": FREE_TEXT,
    "note": FREE_TEXT,
}
FORMAT_KINDS: dict[str, str] = {
    "resident_id": "CN_RESIDENT_ID",
    "uscc": "CN_USCC",
    "bank_card": "BANK_CARD",
    "mobile": "CN_MOBILE",
    "landline": "CN_LANDLINE",
    "email": "EMAIL_ADDRESS",
}
_DISPLAY_FORMATS = {kind: fmt for fmt, kind in FORMAT_KINDS.items()}


def kind_of(name: str, fmt: str | None = None, pii: str | None = None) -> str | None:
    """The entity a column holds: from its canonical field, its format, or ``FREE_TEXT`` for its class."""
    if name in FIELD_KINDS:
        return FIELD_KINDS[name]
    if fmt in FORMAT_KINDS:
        return FORMAT_KINDS[fmt]
    return FREE_TEXT if pii == "free_text" else None


def column_rule(
    column: str,
    *,
    pii: str,
    kind: str | None = None,
    overrides: Mapping[str, Rule] | None = None,
    purpose: str = "analytics",
) -> Rule | None:
    """The rule for a column (None: kept as is). ``overrides`` are :func:`parse_rules`' result."""
    if overrides and column in overrides:
        return overrides[column]
    if purpose == "display":
        if pii == "none":
            return None
        if kind == "PERSON":  # 张*, as handover.masks shows a name
            return Rule("mask", {"keep_first": 1, "keep_last": 0})
        first, last = KEEP_ENDS.get(_DISPLAY_FORMATS.get(kind or "", ""), (1, 1))
        return Rule("mask", {"keep_first": first, "keep_last": last})
    if purpose != "analytics":
        raise ValueError("purpose is analytics or display")
    if kind in DEFAULT_KIND_RULES and pii != "none":
        return DEFAULT_KIND_RULES[kind]
    if pii not in DEFAULT_CLASS_RULES:
        known = ", ".join(DEFAULT_CLASS_RULES)
        problem = (
            f"column {column}: unknown PII class (use one of {known}; "
            "a pii: auto column is classified first, see handover.pii.classify)"
        )
        raise PolicyError([problem])
    return DEFAULT_CLASS_RULES[pii]


# --------------------------------------------------------------------------------------------------
# Checking a policy
# --------------------------------------------------------------------------------------------------

_EXAMPLE = "{operator: mask, keep_first: 3, keep_last: 4}"


def _rule(raw: Any, where: str, problems: list[str]) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping such as {_EXAMPLE}")
        return None
    operator = raw.get("operator")
    if operator not in PARAMS:
        said = "unknown operator" if "operator" in raw else "say which operator"
        problems.append(f"{where}: {said} (use one of {', '.join(OPERATORS)})")
        return None
    ok = True
    for key in raw:
        if key != "operator" and key not in PARAMS[operator]:
            known = ", ".join(sorted(PARAMS[operator])) or "none"
            problems.append(f"{where}: {operator} takes no key {str(key)[:40]!r} (its keys: {known})")
            ok = False
    for key in ("keep_first", "keep_last"):
        if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 0):
            problems.append(f"{where}: {key} must be a whole number >= 0")
            ok = False
    kind = raw.get("kind")
    if "kind" in raw and not (isinstance(kind, str) and _KIND.fullmatch(kind)):
        problems.append(f"{where}: kind must be an entity name in capitals such as CN_MOBILE")
        ok, kind = False, None
    if operator == "generalize":
        if kind is not None and kind not in GENERALIZE_LEVELS:
            problems.append(
                f"{where}: no generalisation is defined for that kind "
                f"(defined: {', '.join(GENERALIZE_LEVELS)})"
            )
            ok = False
        levels = GENERALIZE_LEVELS.get(kind, ()) if kind else _ALL_LEVELS
        if "level" in raw and raw["level"] not in levels:
            problems.append(f"{where}: unknown level (use one of {', '.join(sorted(levels))})")
            ok = False
    if "tag" in raw and not (isinstance(raw["tag"], str) and 0 < len(raw["tag"]) <= 32):
        problems.append(f"{where}: tag must be text of 1 to 32 characters")
        ok = False
    return Rule(operator, {k: v for k, v in raw.items() if k != "operator"}) if ok else None


def parse_rules(raw: Mapping[str, Any] | None, *, what: str = "column") -> dict[str, Rule]:
    """Check ``{name: {"operator": …, …}}`` (``what``: ``column`` or ``entity``); every problem at once."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyError([f"the {what} rules must be a mapping of {what} name to a rule such as {_EXAMPLE}"])
    problems: list[str] = []
    rules = {str(name): _rule(body, f"{what} {name}", problems) for name, body in raw.items()}
    if problems:
        raise PolicyError(problems)
    return {name: rule for name, rule in rules.items() if rule is not None}


@dataclass(frozen=True)
class MaskingPolicy:
    """Per-column overrides and the rules for entities found in free text."""

    columns: Mapping[str, Rule] = field(default_factory=dict)
    text: Mapping[str, Rule] = field(default_factory=lambda: dict(DEFAULT_TEXT_RULES))

    @classmethod
    def from_config(
        cls, columns: Mapping[str, Any] | None = None, text: Mapping[str, Any] | None = None
    ) -> MaskingPolicy:
        """A policy from data (a contract's overrides); raises :class:`PolicyError`."""
        text_rules = {**DEFAULT_TEXT_RULES, **parse_rules(text, what="entity")}
        return cls(columns=parse_rules(columns), text=text_rules)

    def rule_for(
        self, column: str, *, pii: str, kind: str | None = None, purpose: str = "analytics"
    ) -> Rule | None:
        return column_rule(column, pii=pii, kind=kind, overrides=self.columns, purpose=purpose)

    def text_operators(
        self, *, hasher: Hasher | None = None, cipher: FieldCipher | None = None, column: str = "text"
    ) -> dict[str, OperatorConfig]:
        """Presidio's ``operators`` argument: a config for every known entity and DEFAULT."""
        default = self.text.get(DEFAULT, DEFAULT_TEXT_RULES[DEFAULT])
        entities = set(TAGS) | (set(self.text) - {DEFAULT})
        out = {
            e: self.text.get(e, default).presidio(e, hasher=hasher, cipher=cipher, column=column)
            for e in sorted(entities)
        }
        out[DEFAULT] = default.presidio(None, hasher=hasher, cipher=cipher, column=column)
        return out


def uniform(rule: Rule) -> MaskingPolicy:
    """A policy that applies one rule to every entity found in text."""
    return MaskingPolicy(text={DEFAULT: rule})
