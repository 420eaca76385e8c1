"""The data contract: one YAML file per branch that says what its export is and what every column means.

`load_contract(path)` parses and checks the file and returns a `Contract`; every problem found is
reported at once, each naming its place in the file (``entities.customers.columns.证件号码: …``), before
any data is read. `Contract.sha256` identifies the exact contract a run used.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from handover import canonical
from handover.errors import ContractError
from handover.purge.rules import ANCHORS as RETENTION_ANCHORS

if TYPE_CHECKING:
    from handover.pii.policy import MaskingPolicy

SOURCE_FORMATS = ("csv", "xlsx", "table")  # table: a table of the source database (connection handover_source)
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030", "gbk")
COUNTRY = re.compile(r"^[A-Z]{2}$")
DURATION = re.compile(r"^\d+[dmy]$")
COLUMN_KEYS = {"field", "extra", "type", "format", "required", "key", "pii", "retention"}
AUTO = "auto"  # an extra column's PII class decided by sampling its values (`handover.pii.classify`)


@dataclass(frozen=True)
class Party:
    name: str
    uscc: str | None


@dataclass(frozen=True)
class Column:
    header: str  # as the branch's system wrote it
    name: str  # canonical field, or the extra column's name
    is_extra: bool
    type: str
    format: str | None
    required: bool
    key: bool
    pii: str
    retention: str

    @property
    def sealed(self) -> bool:
        """An extra column the vault must encrypt (``auto`` until a run's sampling says otherwise)."""
        return self.is_extra and (self.pii in canonical.SEALED_PII or self.pii == AUTO)


@dataclass(frozen=True)
class Source:
    file: str
    format: str
    encoding: str = "auto"
    sheet: str | None = None
    delimiter: str = ","


@dataclass(frozen=True)
class EntitySpec:
    name: str
    source: Source
    columns: tuple[Column, ...]

    @property
    def model(self) -> canonical.Entity:
        return canonical.entity(self.name)

    @property
    def fields(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.is_extra)

    @property
    def extras(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.is_extra)

    def column_for(self, field_name: str) -> Column | None:
        for c in self.columns:
            if not c.is_extra and c.name == field_name:
                return c
        return None


@dataclass(frozen=True)
class Contract:
    path: Path
    sha256: str
    branch_id: str
    branch_name: str
    transferring_party: Party
    receiving_party: Party
    agreement: dict[str, str]
    jurisdiction: str
    retention: dict[str, dict[str, str]]
    location: Path
    entities: dict[str, EntitySpec] = field(default_factory=dict)
    masking: MaskingPolicy | None = None  # the analytics tier's overrides (None: the default policy)
    min_k: int | None = None  # k-anonymity the analytics customers must reach (None: measured only)

    def source_dir(self, override: str | Path | None = None) -> Path:
        return Path(override) if override else self.location

    def summary(self) -> dict[str, Any]:
        """What a manifest says about the transfer (no customer data lives in a contract)."""
        return {
            "branch": {"id": self.branch_id, "name": self.branch_name},
            "transferring_party": self.transferring_party.__dict__,
            "receiving_party": self.receiving_party.__dict__,
            "agreement": dict(self.agreement),
            "jurisdiction": self.jurisdiction,
            "contract_sha256": self.sha256,
        }


class _Problems:
    """Collects every problem in a contract so the user fixes them in one pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ContractError(self.path, self.items)


def _retention(node: dict, path: Path, problems: _Problems) -> dict[str, dict[str, str]]:
    """The retention classes the columns may name: those of the organisation's retention schedule
    (``schedule: retention.yaml``, a file beside the contract with a ``classes:`` mapping — one place for
    every branch), then the contract's own (which override a schedule's class of the same name)."""
    classes: dict[str, tuple[str, Any]] = {}
    schedule = node.get("schedule")
    if schedule is not None:
        where = f"retention.schedule ({schedule})"
        try:
            loaded = yaml.safe_load((path.parent / str(schedule)).read_text(encoding="utf-8"))
        except OSError as exc:
            problems.add(where, f"cannot read it ({exc.strerror})")
            loaded = {}
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.add(where, f"not valid UTF-8 YAML ({type(exc).__name__})")
            loaded = {}
        for name, rule in _mapping(_mapping(loaded, where, problems).get("classes"), f"{where} classes",
                                   problems).items():
            classes[str(name)] = (f"{schedule}: classes.{name}", rule)
    for name, rule in node.items():
        if name != "schedule":
            classes[str(name)] = (f"retention.{name}", rule)
    retention: dict[str, dict[str, str]] = {}
    for name, (where, rule) in classes.items():
        rule = _mapping(rule, where, problems)
        keep = str(rule.get("keep", ""))
        if not DURATION.match(keep):
            problems.add(f"{where}.keep", "use a duration such as 5y, 18m or 90d")
        after = str(rule.get("after", "created"))
        if after not in RETENTION_ANCHORS:
            problems.add(f"{where}.after", f"use one of {', '.join(RETENTION_ANCHORS)}")
        unknown = sorted(set(rule) - {"keep", "after", "basis"})
        if unknown:
            problems.add(where, f"unknown key {', '.join(unknown)} (known: keep, after, basis)")
        retention[name] = {"keep": keep, "after": after} | ({"basis": str(rule["basis"])} if rule.get("basis") else {})
    return retention


def _mapping(value: Any, where: str, problems: _Problems) -> dict:
    if isinstance(value, dict):
        return value
    problems.add(where, "expected a mapping (key: value lines)" if value is not None else "is missing")
    return {}


def _text(node: dict, key: str, where: str, problems: _Problems, required: bool = True) -> str | None:
    value = node.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(f"{where}.{key}", "is missing")
        return None
    return str(value).strip()


def load_contract(path: str | Path) -> Contract:
    """Read and check a contract; raise ContractError listing every problem with its place."""
    from handover.validators import is_uscc

    path = Path(path).resolve()
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ContractError(path, [f"cannot read the contract ({exc.strerror})"]) from None
    try:
        doc = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        raise ContractError(path, [f"{where}: not valid UTF-8 YAML ({type(exc).__name__})"]) from None

    problems = _Problems(path)
    doc = _mapping(doc, "(top level)", problems)
    version = doc.get("contract_version")
    if version != 1:
        problems.add("contract_version", f"must be 1 (got {version!r})")
    known_top = {"contract_version", "branch", "transfer", "retention", "source", "entities", "analytics"}
    for key in doc:
        if key not in known_top:
            problems.add(str(key), f"unknown key (known: {', '.join(sorted(known_top))})")

    branch = _mapping(doc.get("branch"), "branch", problems)
    branch_id = _text(branch, "id", "branch", problems) or ""
    if branch_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", branch_id):
        problems.add("branch.id", "use letters, digits, '-', '_' or '.' (at most 64)")
    branch_name = _text(branch, "name", "branch", problems) or ""

    transfer = _mapping(doc.get("transfer"), "transfer", problems)
    parties = {}
    for role in ("transferring_party", "receiving_party"):
        node = _mapping(transfer.get(role), f"transfer.{role}", problems)
        uscc = _text(node, "uscc", f"transfer.{role}", problems, required=False)
        if uscc and not is_uscc(uscc):
            problems.add(f"transfer.{role}.uscc", "is not a valid Unified Social Credit Code (GB 32100 check)")
        parties[role] = Party(_text(node, "name", f"transfer.{role}", problems) or "", uscc)
    agreement_node = _mapping(transfer.get("agreement"), "transfer.agreement", problems)
    agreement = {}
    for kind in ("transfer", "confidentiality"):
        agreement[kind] = _text(agreement_node, kind, "transfer.agreement", problems) or ""
    jurisdiction = _text(transfer, "jurisdiction", "transfer", problems) or ""
    if jurisdiction and not COUNTRY.match(jurisdiction):
        problems.add("transfer.jurisdiction", "use an ISO 3166-1 alpha-2 code such as CN")

    retention = _retention(_mapping(doc.get("retention"), "retention", problems), path, problems)

    masking, min_k = _analytics(_mapping(doc.get("analytics") or {}, "analytics", problems), problems)

    source_node = _mapping(doc.get("source"), "source", problems)
    location_text = _text(source_node, "location", "source", problems, required=False) or "."
    location = (path.parent / location_text).resolve()

    entities: dict[str, EntitySpec] = {}
    entities_node = _mapping(doc.get("entities"), "entities", problems)
    for name, node in entities_node.items():
        if name not in canonical.ENTITIES:
            problems.add(f"entities.{name}", f"unknown entity (known: {', '.join(canonical.ENTITIES)})")
            continue
        spec = _entity(name, _mapping(node, f"entities.{name}", problems), retention, problems)
        if spec:
            entities[name] = spec
    if "customers" not in entities_node:
        problems.add("entities.customers", "is missing: a transfer moves customers")
    for name, spec in entities.items():
        for parent in spec.model.parents:
            target = spec.model.field(parent).references.split(".")[0]
            if spec.column_for(parent) and target not in entities_node:
                problems.add(f"entities.{name}.columns", f"maps {parent} but entity {target} is not declared")

    problems.raise_if_any()
    return Contract(
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        branch_id=branch_id,
        branch_name=branch_name,
        transferring_party=parties["transferring_party"],
        receiving_party=parties["receiving_party"],
        agreement=agreement,
        jurisdiction=jurisdiction,
        retention=retention,
        location=location,
        entities={n: entities[n] for n in canonical.ENTITIES if n in entities},
        masking=masking,
        min_k=min_k,
    )


def _analytics(node: dict, problems: _Problems) -> tuple[MaskingPolicy | None, int | None]:
    """``analytics:`` — ``masking: {columns: {column: rule}, text: {ENTITY: rule}}`` (overrides of the
    default policy, :mod:`handover.pii.policy`) and ``anonymity: {min_k: N}``."""
    for key in node:
        if key not in ("masking", "anonymity"):
            problems.add(f"analytics.{key}", "unknown key (known: anonymity, masking)")
    masking_node = _mapping(node.get("masking") or {}, "analytics.masking", problems)
    for key in masking_node:
        if key not in ("columns", "text"):
            problems.add(f"analytics.masking.{key}", "unknown key (known: columns, text)")
    masking = None
    if masking_node:  # the policy module brings Presidio: imported only for a contract that needs it
        from handover.pii.policy import MaskingPolicy, PolicyError

        try:
            masking = MaskingPolicy.from_config(masking_node.get("columns"), masking_node.get("text"))
        except PolicyError as exc:
            for problem in exc.problems:
                problems.add("analytics.masking", problem)
    anonymity = _mapping(node.get("anonymity") or {}, "analytics.anonymity", problems)
    min_k = anonymity.get("min_k")
    if min_k is not None and (isinstance(min_k, bool) or not isinstance(min_k, int) or min_k < 1):
        problems.add("analytics.anonymity.min_k", "must be a whole number of at least 1")
        min_k = None
    return masking, min_k


def _entity(name: str, node: dict, retention: dict, problems: _Problems) -> EntitySpec | None:
    where = f"entities.{name}"
    model = canonical.entity(name)
    src = _mapping(node.get("source"), f"{where}.source", problems)
    if "table" in src:  # a table of the source database; `file` holds its name
        file, fmt = str(src["table"]), str(src.get("format", "table")).lower()
    else:
        file = _text(src, "file", f"{where}.source", problems) or ""
        fmt = str(src.get("format") or Path(file).suffix.lstrip(".")).lower()
    if fmt not in SOURCE_FORMATS:
        problems.add(f"{where}.source.format", f"use one of {', '.join(SOURCE_FORMATS)} (got {fmt!r})")
    encoding = str(src.get("encoding", "auto")).lower()
    if encoding not in ENCODINGS:
        problems.add(f"{where}.source.encoding", f"use one of {', '.join(ENCODINGS)} (got {encoding!r})")
    sheet = src.get("sheet")
    if fmt == "xlsx" and sheet is None:
        problems.add(f"{where}.source.sheet", "name the sheet that holds the data")
    source = Source(file=file, format=fmt, encoding=encoding, sheet=None if sheet is None else str(sheet),
                    delimiter=str(src.get("delimiter", ",")))

    columns: list[Column] = []
    seen_fields: dict[str, str] = {}
    for header, col in _mapping(node.get("columns"), f"{where}.columns", problems).items():
        cwhere = f"{where}.columns.{header}"
        col = _mapping(col, cwhere, problems)
        for key in col:
            if key not in COLUMN_KEYS:
                problems.add(cwhere, f"unknown key {key!r} (known: {', '.join(sorted(COLUMN_KEYS))})")
        if ("field" in col) == ("extra" in col):
            problems.add(cwhere, "say either `field: <canonical field>` or `extra: <name>`")
            continue
        is_extra = "extra" in col
        target = str(col.get("extra") if is_extra else col.get("field"))
        canon = None
        if not is_extra:
            if target not in model.field_names:
                problems.add(cwhere, f"unknown field {target!r} for {name} (known: {', '.join(model.field_names)})")
                continue
            if target in seen_fields:
                problems.add(cwhere, f"field {target} is already mapped from column {seen_fields[target]}")
            seen_fields[target] = str(header)
            canon = model.field(target)
        elif not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", target):
            problems.add(cwhere, "an extra column's name uses lowercase letters, digits and _")
        vtype = str(col.get("type", canon.type if canon else "string"))
        if vtype not in canonical.VALUE_TYPES:
            problems.add(cwhere, f"unknown type {vtype!r} (known: {', '.join(canonical.VALUE_TYPES)})")
        elif canon and vtype != canon.type:
            problems.add(cwhere, f"type {vtype} does not match the canonical type {canon.type} of {target}")
        fmt_ = col.get("format", canon.format if canon else None)
        if fmt_ is not None and fmt_ not in canonical.FORMATS:
            problems.add(cwhere, f"unknown format {fmt_!r} (known: {', '.join(canonical.FORMATS)})")
        elif canon and fmt_ != canon.format:
            problems.add(cwhere, f"format {fmt_} does not match the canonical format {canon.format} of {target}")
        pii = str(col.get("pii", "")) or None
        if pii == AUTO and not is_extra:
            problems.add(cwhere, f"pii: auto is for extra columns; {target} is a canonical field of class "
                                 f"{canon.pii} or stronger")
            pii = canon.pii
        elif pii != AUTO and pii not in canonical.PII_CLASSES:
            problems.add(cwhere, f"say its PII class: pii is one of {', '.join(canonical.PII_CLASSES)}, "
                                 "or auto (an extra column classified by sampling, each run)")
            pii = "none"
        elif canon and canonical.PII_RANK[pii] < canonical.PII_RANK[canon.pii]:
            problems.add(cwhere, f"pii {pii} is weaker than {canon.pii}, the least class of {target}")
        ret = col.get("retention")
        if ret is None:
            problems.add(cwhere, "say its retention class (retention: <a class from the retention section>)")
        elif str(ret) not in retention:
            problems.add(cwhere, f"retention class {ret!r} is not declared in the retention section")
        is_key = bool(col.get("key", False))
        if is_key and (is_extra or target != model.key):
            problems.add(cwhere, f"only {model.key} can be the key of {name}")
        if is_key and pii != "none":
            problems.add(cwhere, "a key column must have pii: none (use the branch's record number as key)")
        columns.append(Column(
            header=str(header), name=target, is_extra=is_extra, type=vtype, format=fmt_,
            required=bool(col.get("required", False)) or bool(canon and canon.required),
            key=is_key or (canon is not None and target == model.key), pii=pii, retention=str(ret),
        ))
    mapped = {c.name for c in columns if not c.is_extra}
    for f in model.fields:
        if f.required and f.name not in mapped:
            problems.add(f"{where}.columns", f"required field {f.name} is not mapped from any column")
    if not columns:
        return None
    return EntitySpec(name=name, source=source, columns=tuple(columns))
