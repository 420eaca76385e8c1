"""The data contract: one YAML file per branch that says what its export is and what every column means.

`load_contract(path)` parses and checks the file and returns a `Contract`; every problem found is
reported at once, each naming its place in the file (``entities.customers.columns.证件号码: …``), before
any data is read. `Contract.sha256` identifies the exact contract a run used.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from handover import canonical
from handover.durations import Duration, RetentionError
from handover.errors import ContractError
from handover.limits import DEFAULTS, limit
from handover.purge.rules import ANCHORS as RETENTION_ANCHORS

if TYPE_CHECKING:
    from handover.pii.policy import MaskingPolicy

SOURCE_FORMATS = ("csv", "xlsx", "table")  # table: a table of the source database (connection handover_source)
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030", "gbk")
COUNTRY = re.compile(r"^[A-Z]{2}$")
COLUMN_KEYS = {"field", "extra", "time_of", "type", "format", "required", "key", "pii", "retention", "on_invalid",
               "codes", "excel_serial", "partial_dates", "scale"}
SOURCE_KEYS = {"file", "table", "format", "encoding", "sheet", "delimiter", "header_row"}
ENTITY_KEYS = {"source", "columns", "belongs_to"}
PARTIAL_DATES = ("start", "end")  # a year or a month read as its first or its last day
ABSENT = ("keep", "report", "erase")  # a re-sent export without a customer loaded before
AUTO = "auto"  # an extra column's PII class decided by sampling its values (`handover.pii.classify`)


@dataclass(frozen=True)
class Contact:
    """The receiving party's personal-information contact (个人信息保护负责人 or the office that answers)."""
    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Party:
    name: str
    uscc: str | None
    # How customers reach the party (PIPL Art. 22: the recipient's name and contact details). Optional in a
    # contract without a ``notice:`` section; required with one.
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    pi_contact: Contact | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "uscc": self.uscc}
        for key in ("address", "phone", "email"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.pi_contact:
            out["pi_contact"] = {k: v for k, v in self.pi_contact.__dict__.items() if v}
        return out


RIGHTS = ("object", "withdraw", "correct", "delete")  # how each is exercised: said in every notice
NOTICE_CHANNELS = ("sms", "email", "letter")  # a customer's channels, in the contract's order of preference
NOTICE_KEYS = {"purposes", "methods", "categories", "retention", "rights", "respond_within", "channels"}


@dataclass(frozen=True)
class Notice:
    """What every customer is told after the transfer (告知, PIPL Art. 17 and 22): the receiving party's name
    and contacts come from the contract's party; the rest from its ``notice:`` section."""
    purposes: tuple[str, ...]
    methods: tuple[str, ...]
    categories: tuple[str, ...]
    retention: str  # how long the information is kept, in words the customer reads
    rights: dict[str, str]  # RIGHTS → how to exercise it
    respond_within: Duration  # the deadline to object, counted from the day the notice is prepared
    channels: tuple[str, ...] = NOTICE_CHANNELS


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
    on_invalid: str = "quarantine"  # canonical.ON_INVALID: what a bad value does to the row
    codes: tuple[tuple[str, str | None], ...] = ()  # the branch's spellings (lower-cased) → canonical codes
    excel_serial: bool = False  # whole numbers in this date column are Excel serial days
    partial_dates: str | None = None  # start | end: "2015", "2015年6月" read as the period's first/last day
    scale: int | None = None  # amounts: the most decimals a value may have (default: its currency's)
    identifier: bool = False  # a key, reference or identity/card number: a bad value always quarantines
    time_of: str | None = None  # this column holds the time of day of that datetime field (交易日期 + 交易时间)

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
    header_row: int | None = None  # the line (CSV) or row (XLSX) of the header, below a title; None: the first
    allowed_folders: tuple[Path, ...] = ()  # folders beside the export folder a source file may lie in


IDENTIFIER_FORMATS = frozenset({"resident_id", "uscc", "bank_card", "document"})


@dataclass(frozen=True)
class EntitySpec:
    name: str
    source: Source
    columns: tuple[Column, ...]
    belongs_to: str | None = None  # transactions: account | card | customer (canonical.BELONGS_TO)

    @property
    def model(self) -> canonical.Entity:
        return canonical.entity(self.name)

    @property
    def fields(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.is_extra and c.time_of is None)

    @property
    def extras(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.is_extra)

    def column_for(self, field_name: str) -> Column | None:
        for c in self.columns:
            if not c.is_extra and c.time_of is None and c.name == field_name:
                return c
        return None

    def time_column(self, field_name: str) -> Column | None:
        """The column holding the time of day of a datetime field, when the export splits it off."""
        return next((c for c in self.columns if c.time_of == field_name), None)


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
    absent_customers: str = "report"  # a re-sent export without a customer loaded before: keep | report | erase
    residual_thresholds: dict[str, float] | None = None  # analytics.residual: kind → rate (handover.residual)
    notice: Notice | None = None  # what customers are told (None: the contract says nothing; no notice run)
    pipia_reference: str | None = None  # transfer.pipia.reference: the approved impact assessment (handover.pipia)
    pipia_approver: str | None = None  # transfer.pipia.approver: who approves it

    def source_dir(self, override: str | Path | None = None) -> Path:
        return Path(override) if override else self.location

    def summary(self) -> dict[str, Any]:
        """What a manifest says about the transfer (no customer data lives in a contract)."""
        return {
            "branch": {"id": self.branch_id, "name": self.branch_name},
            "transferring_party": self.transferring_party.summary(),
            "receiving_party": self.receiving_party.summary(),
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
            loaded = read_yaml(path.parent / str(schedule), "retention schedule")[1]
        except ContractError as exc:
            problems.items += [f"{where}: {p}" for p in exc.problems]
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
        try:
            Duration.parse(keep, f"{where}.keep")
        except RetentionError:
            problems.add(f"{where}.keep", "use a duration such as 5y, 18m, 90d or 1y6m")
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


# A contract or retention schedule is a page or two of YAML; anything near this is not one.
DOCUMENT_LIMIT = DEFAULTS["document_bytes"]  # the default; `limit("document_bytes")` is read when a file is


class _StrictLoader(yaml.SafeLoader):
    """YAML as a contract may be written: plain mappings, lists and scalars. A key given twice is an error
    naming both lines (PyYAML silently keeps the last one, which once turned the resident IDs into a
    plaintext extra); anchors and aliases are refused (an alias bomb expands a small file into gigabytes),
    and so is every explicit tag (``!!python/…``, ``!!binary``, a custom ``!tag``)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(event.start_mark, "YAML anchors and aliases (&name, *name) are not allowed in a "
                                             "contract: write each value out")
        if getattr(event, "tag", None) is not None:  # untagged nodes have none; `!x` and `!!x` do
            raise _Refused(event.start_mark, "explicit YAML tags (!!type, !tag) are not allowed in a contract")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # a list or mapping as a key
                raise _Refused(key_node.start_mark, "a key must be a plain value") from None
            if first is not None:
                raise _Refused(key_node.start_mark, f"key {_shown(key)} is given twice (first on line "
                                                    f"{first.line + 1}); say it once")
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


class _Refused(yaml.YAMLError):
    def __init__(self, mark, what: str) -> None:
        super().__init__(what)
        self.problem_mark, self.what = mark, what


def _shown(value: Any, limit: int = 40) -> str:
    """A value of the contract as an error message may quote it: short, whatever it is."""
    text = repr(value) if isinstance(value, str) else str(value) if isinstance(value, (int, float)) \
        else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "…"


def read_yaml(path: Path, what: str = "contract") -> Any:
    """A contract (or retention schedule) file, parsed strictly (`_StrictLoader`); ContractError naming the
    line otherwise."""
    raw = _read_document(path, what)
    return raw, parse_yaml(raw, path, what)


def _read_document(path: Path, what: str) -> bytes:
    if _reads is not None:  # a file a contract depends on: its bytes now (None: unreadable)
        _reads.append((path, _current(path)))
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ContractError(path, [f"the {what} is not a regular file"])
        most = limit("document_bytes")
        if size > most:
            raise ContractError(path, [(f"the {what} is {size:,} bytes, over the limit of {most:,}: "
                                        "it cannot be a contract")])
        with open(path, "rb") as fh:
            raw = fh.read(most + 1)
    except OSError as exc:
        raise ContractError(path, [f"cannot read the {what} ({exc.strerror})"]) from None
    return raw


def parse_yaml(raw: bytes, path: Path, what: str = "contract") -> Any:
    """The document parsed strictly (`_StrictLoader`); ContractError naming the line otherwise. (A process
    checks a contract once for the same bytes: `load_contract`'s cache, so this is not cached too.)"""
    if len(raw) > limit("document_bytes"):
        raise ContractError(path, [f"the {what} is over the limit of {limit('document_bytes'):,} bytes"])
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)  # a SafeLoader, stricter
    except _Refused as exc:
        raise ContractError(path, [f"line {exc.problem_mark.line + 1}: {exc.what}"]) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        raise ContractError(path, [f"{where}: not valid UTF-8 YAML ({type(exc).__name__})"]) from None
    except RecursionError:
        raise ContractError(path, ["the YAML is nested too deeply to be a contract"]) from None


# Contracts read by this process, by file and exact bytes — the contract's and those of the files it names
# (its retention schedule): a run's steps ask for the contract again and again (81 times in a DAG run of the
# sample, ~45 ms of CPU each); when any of those files changed, the contract is checked anew.
_LOADED: dict[tuple[Path, bytes], tuple[Contract, list[tuple[Path, bytes | None]]]] = {}
_reads: list[tuple[Path, bytes | None]] | None = None  # while a contract is checked: the other files it read


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def load_contract(path: str | Path) -> Contract:
    """Read and check a contract; raise ContractError listing every problem with its place. The files are
    read every time; what they say is checked once per process for the same bytes (a `Contract` is frozen)."""
    global _reads
    path = Path(path).resolve()
    raw = _read_document(path, "contract")
    found = _LOADED.get((path, raw))
    if found is not None and all(_current(p) == b for p, b in found[1]):
        return found[0]
    _reads = []
    try:
        contract = _check_contract(path, raw)
        if len(_LOADED) >= 8:
            _LOADED.clear()
        _LOADED[(path, raw)] = (contract, _reads)
    finally:
        _reads = None
    return contract


def _check_contract(path: Path, raw_bytes: bytes) -> Contract:
    from handover.validators import is_uscc

    doc = parse_yaml(raw_bytes, path)

    problems = _Problems(path)
    doc = _mapping(doc, "(top level)", problems)
    version = doc.get("contract_version")
    if version != 1:
        problems.add("contract_version", f"must be 1 (got {_shown(version)})")
    known_top = {"contract_version", "branch", "transfer", "retention", "source", "entities", "analytics", "notice"}
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
        parties[role] = _party(node, role, uscc, problems)
    agreement_node = _mapping(transfer.get("agreement"), "transfer.agreement", problems)
    agreement = {}
    for kind in ("transfer", "confidentiality"):
        agreement[kind] = _text(agreement_node, kind, "transfer.agreement", problems) or ""
    for key in transfer:
        if key not in ("transferring_party", "receiving_party", "agreement", "jurisdiction", "absent_customers",
                       "pipia"):
            problems.add(f"transfer.{key}", "unknown key (known: transferring_party, receiving_party, agreement, "
                                            "jurisdiction, absent_customers, pipia)")
    pipia_node = _mapping(transfer.get("pipia") or {}, "transfer.pipia", problems)
    for key in pipia_node:
        if key not in ("reference", "approver"):
            problems.add(f"transfer.pipia.{key}", "unknown key (known: reference, approver)")
    pipia_reference = _text(pipia_node, "reference", "transfer.pipia", problems, required=False)
    if pipia_reference and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9/_.:-]{3,127}", pipia_reference):
        problems.add("transfer.pipia.reference", "a reference: 4–128 letters, digits, '/', '-', '_', '.', ':'")
    pipia_approver = _text(pipia_node, "approver", "transfer.pipia", problems, required=False)
    absent = str(transfer.get("absent_customers", "report"))
    if absent not in ABSENT:
        problems.add("transfer.absent_customers", f"use one of {', '.join(ABSENT)}")
    jurisdiction = _text(transfer, "jurisdiction", "transfer", problems) or ""
    if jurisdiction and not COUNTRY.match(jurisdiction):
        problems.add("transfer.jurisdiction", "use an ISO 3166-1 alpha-2 code such as CN")

    retention = _retention(_mapping(doc.get("retention"), "retention", problems), path, problems)
    notice = _notice(doc["notice"], parties["receiving_party"], problems) if "notice" in doc else None

    analytics_node = _mapping(doc.get("analytics") or {}, "analytics", problems)
    masking, min_k = _analytics(analytics_node, problems)
    residual = _residual(analytics_node.get("residual"), problems)

    source_node = _mapping(doc.get("source"), "source", problems)
    location_text = _text(source_node, "location", "source", problems, required=False) or "."
    location = (path.parent / location_text).resolve()
    for key in source_node:
        if key not in ("location", "allowed_folders"):
            problems.add(f"source.{key}", "unknown key (known: location, allowed_folders)")
    allowed_node = source_node.get("allowed_folders") or []
    if not isinstance(allowed_node, list) or not all(isinstance(a, str) and a.strip() for a in allowed_node):
        problems.add("source.allowed_folders", "a list of folders (relative to this file, or absolute)")
        allowed_node = []
    allowed = tuple((path.parent / a).resolve() for a in allowed_node)

    entities: dict[str, EntitySpec] = {}
    entities_node = _mapping(doc.get("entities"), "entities", problems)
    for name, node in entities_node.items():
        if name not in canonical.ENTITIES:
            problems.add(f"entities.{name}", f"unknown entity (known: {', '.join(canonical.ENTITIES)})")
            continue
        spec = _entity(name, _mapping(node, f"entities.{name}", problems), retention, problems)
        if spec:
            entities[name] = replace(spec, source=replace(spec.source, allowed_folders=allowed))
    if "customers" not in entities_node:
        problems.add("entities.customers", "is missing: a transfer moves customers")
    for name, spec in entities.items():
        for parent in spec.model.parents:
            target = spec.model.field(parent).references.split(".")[0]
            if spec.column_for(parent) and target not in entities_node:
                problems.add(f"entities.{name}.columns", f"maps {parent} but entity {target} is not declared")
        if spec.belongs_to == "card" and not any(
                e in entities and entities[e].column_for("card_number") and entities[e].column_for("account_id")
                for e in ("accounts", "cards")):
            problems.add(f"entities.{name}.belongs_to", "card: the transactions' card numbers are resolved to "
                                                        "accounts, so entities.cards (or entities.accounts) must "
                                                        "map card_number and account_id")

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
        absent_customers=absent,
        residual_thresholds=residual,
        notice=notice,
        pipia_reference=pipia_reference or None,
        pipia_approver=pipia_approver or None,
    )


PARTY_KEYS = {"name", "uscc", "address", "phone", "email", "pi_contact"}
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{3,22}[0-9]$")  # 95588, 400-820-8888, 021-6888 8888, +86 21 …


def _party(node: dict, role: str, uscc: str | None, problems: _Problems) -> Party:
    """A party: its name and USCC; the receiving party also how customers reach it (address, phone, e-mail,
    and its personal-information contact: ``pi_contact: {name, phone, email}``)."""
    from handover.validators import is_email

    where = f"transfer.{role}"
    for key in node:
        if key not in PARTY_KEYS:
            problems.add(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(PARTY_KEYS))})")

    def reach(n: dict, at: str) -> tuple[str | None, str | None]:
        phone = _text(n, "phone", at, problems, required=False)
        if phone and not _PHONE.match(phone):
            problems.add(f"{at}.phone", "a telephone number of digits, spaces, '-' and brackets (such as "
                                        "021-6888 8888, 400-820-8888 or 95588)")
        email = _text(n, "email", at, problems, required=False)
        if email and not is_email(email):
            problems.add(f"{at}.email", "is not an e-mail address (name@example.cn)")
        return phone, email

    phone, email = reach(node, where)
    contact = None
    if node.get("pi_contact") is not None:
        cnode = _mapping(node.get("pi_contact"), f"{where}.pi_contact", problems)
        for key in cnode:
            if key not in ("name", "phone", "email"):
                problems.add(f"{where}.pi_contact.{key}", "unknown key (known: email, name, phone)")
        c_phone, c_email = reach(cnode, f"{where}.pi_contact")
        if not (c_phone or c_email):
            problems.add(f"{where}.pi_contact", "give a phone or an e-mail customers can reach the contact by")
        contact = Contact(_text(cnode, "name", f"{where}.pi_contact", problems) or "", c_phone, c_email)
    return Party(_text(node, "name", where, problems) or "", uscc,
                 _text(node, "address", where, problems, required=False), phone, email, contact)


def _texts(node: dict, key: str, problems: _Problems) -> tuple[str, ...]:
    """A notice item that is a list of short texts (one text is taken as a list of one)."""
    value = node.get(key)
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    problems.add(f"notice.{key}", "is missing" if value is None else "a text or a list of texts")
    return ()


def _notice(value: Any, party: Party, problems: _Problems) -> Notice | None:
    """``notice:`` — what PIPL Art. 17 asks of a notice (purposes, methods, categories, retention, how to
    exercise the rights, by when), and with it the receiving party's contacts Art. 22 asks for."""
    node = _mapping(value, "notice", problems)
    for key in node:
        if key not in NOTICE_KEYS:
            problems.add(f"notice.{key}", f"unknown key (known: {', '.join(sorted(NOTICE_KEYS))})")
    for key, what in (("address", "its address"), ("phone", "a telephone number"), ("email", "an e-mail address"),
                      ("pi_contact", "its personal-information contact (pi_contact: {name, phone, email})")):
        if not getattr(party, key):
            problems.add(f"transfer.receiving_party.{key}", f"is missing: a notice must tell customers {what} "
                                                            "(PIPL Art. 22)")
    purposes, methods, categories = (_texts(node, k, problems) for k in ("purposes", "methods", "categories"))
    retention = _text(node, "retention", "notice", problems) or ""
    rights_node = _mapping(node.get("rights"), "notice.rights", problems)
    rights = {}
    for right in RIGHTS:
        rights[right] = _text(rights_node, right, "notice.rights", problems) or ""
    for key in rights_node:
        if key not in RIGHTS:
            problems.add(f"notice.rights.{key}", f"unknown right (known: {', '.join(RIGHTS)})")
    within = None
    try:
        within = Duration.parse(str(node.get("respond_within", "")), "notice.respond_within")
    except RetentionError:
        problems.add("notice.respond_within", "the time customers have to object, as a duration such as 30d or 1m")
    channels = node.get("channels", list(NOTICE_CHANNELS))
    if not isinstance(channels, list) or not channels or any(c not in NOTICE_CHANNELS for c in channels) \
            or len(set(channels)) != len(channels):
        problems.add("notice.channels", f"a list of channels in order of preference, each once: "
                                        f"{', '.join(NOTICE_CHANNELS)}")
        channels = list(NOTICE_CHANNELS)
    if within is None or problems.items:
        return None
    return Notice(purposes, methods, categories, retention, rights, within, tuple(channels))


def _residual(node: Any, problems: _Problems) -> dict[str, float] | None:
    """``analytics.residual: {name: 0.02}`` — the rate of analyst-readable values with a suspected residual
    name, phone or identifier above which a column fails the run (defaults: handover.residual.THRESHOLDS)."""
    if node is None:
        return None
    from handover.residual import THRESHOLDS

    node = _mapping(node, "analytics.residual", problems)
    out = dict(THRESHOLDS)
    for kind, rate in node.items():
        if kind not in THRESHOLDS:
            problems.add(f"analytics.residual.{kind}", f"unknown kind (known: {', '.join(THRESHOLDS)})")
        elif isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            problems.add(f"analytics.residual.{kind}", "a rate between 0 and 1 (0.01: one value in a hundred)")
        else:
            out[kind] = float(rate)
    return out


def _analytics(node: dict, problems: _Problems) -> tuple[MaskingPolicy | None, int | None]:
    """``analytics:`` — ``masking: {columns: {column: rule}, text: {ENTITY: rule}}`` (overrides of the
    default policy, :mod:`handover.pii.policy`) and ``anonymity: {min_k: N}``."""
    for key in node:
        if key not in ("masking", "anonymity", "residual"):
            problems.add(f"analytics.{key}", "unknown key (known: anonymity, masking, residual)")
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
        problems.add(f"{where}.source.format", f"use one of {', '.join(SOURCE_FORMATS)} (got {_shown(fmt)})")
    encoding = str(src.get("encoding", "auto")).lower()
    if encoding not in ENCODINGS:
        problems.add(f"{where}.source.encoding", f"use one of {', '.join(ENCODINGS)} (got {_shown(encoding)})")
    sheet = src.get("sheet")
    if fmt == "xlsx" and sheet is None:
        problems.add(f"{where}.source.sheet", "name the sheet that holds the data")
    for key in src:
        if key not in SOURCE_KEYS:
            problems.add(f"{where}.source.{key}", f"unknown key (known: {', '.join(sorted(SOURCE_KEYS))})")
    header_row = src.get("header_row")
    if header_row is not None and (isinstance(header_row, bool) or not isinstance(header_row, int)
                                   or not 1 <= header_row <= 100):
        problems.add(f"{where}.source.header_row", "the line (row) number of the header, 1 to 100")
        header_row = None
    delimiter = str(src.get("delimiter", ","))
    if fmt == "csv" and (len(delimiter) != 1 or delimiter in '"\r\n'):
        problems.add(f"{where}.source.delimiter", "one character other than a quote or a line break (such as , ; | "
                                                  "or a tab)")
        delimiter = ","
    source = Source(file=file, format=fmt, encoding=encoding, sheet=None if sheet is None else str(sheet),
                    delimiter=delimiter, header_row=header_row)

    columns: list[Column] = []
    seen_fields: dict[str, str] = {}
    for header, col in _mapping(node.get("columns"), f"{where}.columns", problems).items():
        cwhere = f"{where}.columns.{header}"
        col = _mapping(col, cwhere, problems)
        for key in col:
            if key not in COLUMN_KEYS:
                problems.add(cwhere, f"unknown key {_shown(key)} (known: {', '.join(sorted(COLUMN_KEYS))})")
        if sum(k in col for k in ("field", "extra", "time_of")) != 1:
            problems.add(cwhere, "say either `field: <canonical field>`, `extra: <name>` or `time_of: <a datetime "
                                 "field>`")
            continue
        if "time_of" in col:
            time_of = _time_of(col, cwhere, str(header), model, name, retention, problems)
            if time_of:
                columns.append(time_of)
            continue
        is_extra = "extra" in col
        target = str(col.get("extra") if is_extra else col.get("field"))
        canon = None
        if not is_extra:
            if target not in model.field_names:
                problems.add(cwhere, f"unknown field {_shown(target)} for {name} (known: {', '.join(model.field_names)})")
                continue
            if target in seen_fields:
                problems.add(cwhere, f"field {target} is already mapped from column {seen_fields[target]}")
            seen_fields[target] = str(header)
            canon = model.field(target)
        elif not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", target):
            problems.add(cwhere, "an extra column's name uses lowercase letters, digits and _")
        vtype = str(col.get("type", canon.type if canon else "string"))
        if vtype not in canonical.VALUE_TYPES:
            problems.add(cwhere, f"unknown type {_shown(vtype)} (known: {', '.join(canonical.VALUE_TYPES)})")
        elif canon and vtype != canon.type:
            problems.add(cwhere, f"type {vtype} does not match the canonical type {canon.type} of {target}")
        fmt_ = col.get("format", canon.format if canon else None)
        if canon and canon.format == "document" and fmt_ == "resident_id":
            fmt_ = "document"  # an older contract's spelling: the number is checked by its document type
        if is_extra and fmt_ in ("document", "expiry"):
            problems.add(cwhere, f"format {fmt_} is for the canonical field "
                                 f"{'id_number (it needs the row’s document type)' if fmt_ == 'document' else 'id_expiry'}")
            fmt_ = None
        if fmt_ is not None and fmt_ not in canonical.FORMATS:
            problems.add(cwhere, f"unknown format {_shown(fmt_)} (known: {', '.join(canonical.FORMATS)})")
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
            problems.add(cwhere, f"retention class {_shown(ret)} is not declared in the retention section")
        is_key = bool(col.get("key", False))
        if is_key and (is_extra or target != model.key):
            problems.add(cwhere, f"only {model.key} can be the key of {name}")
        if is_key and pii != "none":
            problems.add(cwhere, "a key column must have pii: none (use the branch's record number as key)")
        key = is_key or (canon is not None and target == model.key)
        required = bool(col.get("required", False)) or bool(canon and canon.required)
        identifier = key or (canon.identifier if canon else fmt_ in IDENTIFIER_FORMATS)
        columns.append(Column(
            header=str(header), name=target, is_extra=is_extra, type=vtype, format=fmt_, required=required,
            key=key, pii=pii, retention=str(ret), identifier=identifier,
            on_invalid=_on_invalid(col, cwhere, vtype, fmt_, pii, identifier, required, problems),
            codes=_codes(col, cwhere, target if canon else None, vtype, problems),
            excel_serial=_flag(col, "excel_serial", cwhere, vtype, problems),
            partial_dates=_partial(col, cwhere, vtype, problems),
            scale=_scale(col, cwhere, vtype, problems),
        ))
    mapped = {c.name for c in columns if not c.is_extra and c.time_of is None}
    for c in columns:
        if c.time_of and c.time_of not in mapped:
            problems.add(f"{where}.columns.{c.header}", f"time_of {c.time_of}: no column maps that field")
    belongs_to = _belongs_to(node, name, mapped, where, problems)
    for f in model.fields:
        if f.derived_from and f.name not in mapped and f.derived_from in mapped:
            continue  # made from the blind index of the field it derives from
        if (f.required or f.name == canonical.BELONGS_TO.get(belongs_to or "")) and f.name not in mapped:
            hint = (f" (or say what the {name} belong to: belongs_to: account, card or customer)"
                    if belongs_to else "")
            problems.add(f"{where}.columns", f"required field {f.name} is not mapped from any column{hint}")
    for key in node:
        if key not in ENTITY_KEYS:
            problems.add(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(ENTITY_KEYS))})")
    if not columns:
        return None
    if belongs_to:  # the field it belongs by is required (a row without it belongs to nothing)
        by = canonical.BELONGS_TO[belongs_to]
        columns = [replace(c, required=True) if not c.is_extra and c.name == by else c for c in columns]
    return EntitySpec(name=name, source=source, columns=tuple(columns), belongs_to=belongs_to)


def _time_of(col: dict, where: str, header: str, model: canonical.Entity, entity: str, retention: dict,
             problems: _Problems) -> Column | None:
    """``time_of: occurred_at`` — the export gives a datetime field's date and its time of day in two columns
    (交易日期 + 交易时间): this column holds the time, joined to the date before the value is read."""
    target = str(col["time_of"])
    if target not in model.field_names or model.field(target).type != "datetime":
        datetimes = [f.name for f in model.fields if f.type == "datetime"]
        problems.add(f"{where}.time_of", f"name a datetime field of {entity} ({', '.join(datetimes) or 'none'})")
        return None
    for key in col:
        if key not in ("time_of", "retention", "pii"):
            problems.add(where, f"a time_of column takes only time_of, pii and retention (not {_shown(key)})")
    ret = col.get("retention")
    if ret is None or str(ret) not in retention:
        problems.add(where, "say its retention class (retention: <a class from the retention section>)")
    return Column(header=header, name=f"{target}__time", is_extra=False, type="string", format=None,
                  required=False, key=False, pii=str(col.get("pii", "none")), retention=str(ret),
                  time_of=target)


def _belongs_to(node: dict, name: str, mapped: set[str], where: str, problems: _Problems) -> str | None:
    """Transactions belong to an account, a card (resolved to its account) or only a customer: what the
    contract says, else the first of those its columns map."""
    if name != "transactions":
        if "belongs_to" in node:
            problems.add(f"{where}.belongs_to", "only transactions say what they belong to")
        return None
    said = node.get("belongs_to")
    if said is None:
        return next((kind for kind, f in canonical.BELONGS_TO.items() if f in mapped), "account")
    if said not in canonical.BELONGS_TO:
        problems.add(f"{where}.belongs_to", f"use one of {', '.join(canonical.BELONGS_TO)}")
        return None
    return str(said)


def _on_invalid(col: dict, where: str, vtype: str, fmt: str | None, pii: str | None, identifier: bool,
                required: bool, problems: _Problems) -> str:
    """What a bad value of this column does. Identifiers, keys and required columns always quarantine the
    row; free text keeps its value (a remark is data: a formula in it is kept as text and neutralised
    wherever it leaves the store); every other column quarantines unless the contract says ``null``
    (load the row without the value, the reason kept with it) or, for plain text, ``keep``."""
    default = "keep" if pii == "free_text" else "quarantine"
    if "on_invalid" not in col:
        return default
    said = col["on_invalid"]
    said = "null" if said is None else str(said)  # YAML reads a bare `on_invalid: null` as nothing: it means null
    if said not in canonical.ON_INVALID:
        problems.add(f"{where}.on_invalid", f"use one of {', '.join(canonical.ON_INVALID)}")
        return default
    if said != "quarantine" and (identifier or required):
        what = "an identifier (a key, a reference, an identity or card number)" if identifier else "required"
        problems.add(f"{where}.on_invalid", f"{said} is not allowed: the column is {what}, so a bad value "
                                            "always quarantines its row")
        return "quarantine"
    if said == "keep" and (vtype != "string" or (fmt is not None and pii != "free_text")):
        problems.add(f"{where}.on_invalid", "keep is for text without a format (free text, names, codes): "
                                            "a value of a checked format or type that fails cannot be kept; "
                                            "use null or quarantine")
        return default
    return said


def _codes(col: dict, where: str, field_name: str | None, vtype: str, problems: _Problems) -> tuple:
    """``codes: {<the branch's spelling or code>: <canonical code>}``, added to the field's defaults."""
    raw = col.get("codes")
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        problems.add(f"{where}.codes", "expected a mapping of the branch's values to canonical codes")
        return ()
    if vtype != "string":
        problems.add(f"{where}.codes", "codes are for text columns")
    allowed = None
    if field_name == "id_type":
        from handover.documents import DOCUMENT_TYPES

        allowed = DOCUMENT_TYPES
    elif field_name in canonical.CODES:
        allowed = set(canonical.CODES[field_name].values())
    pairs = []
    for branch_value, code in raw.items():
        if not isinstance(branch_value, str):
            problems.add(f"{where}.codes", f"write the branch's value {_shown(branch_value)} in quotes "
                                           f"('{branch_value}'): YAML reads it as a {type(branch_value).__name__},"
                                           " and 01 as the number 1")
            continue
        if code is None:  # the branch's way of writing "no value" (未知, 不详 …): read as empty
            pairs.append((branch_value.strip().lower(), None))
            continue
        if allowed is not None and code not in allowed:
            problems.add(f"{where}.codes.{branch_value}", f"{_shown(code)} is not a code of {field_name} "
                                                          f"(known: {', '.join(sorted(allowed))}, or null)")
            continue
        pairs.append((branch_value.strip().lower(), str(code)))
    return tuple(sorted(pairs, key=lambda p: p[0]))


def _flag(col: dict, key: str, where: str, vtype: str, problems: _Problems) -> bool:
    value = col.get(key, False)
    if not isinstance(value, bool):
        problems.add(f"{where}.{key}", "use true or false")
        return False
    if value and vtype not in ("date", "datetime"):
        problems.add(f"{where}.{key}", "is for date and datetime columns")
    return value


def _partial(col: dict, where: str, vtype: str, problems: _Problems) -> str | None:
    value = col.get("partial_dates")
    if value is None:
        return None
    if value not in PARTIAL_DATES:
        problems.add(f"{where}.partial_dates", "use start (a year or month is its first day) or end (its last "
                                               "day: right for activity dates, so a purge never comes early)")
        return None
    if vtype != "date":
        problems.add(f"{where}.partial_dates", "is for date columns")
    return str(value)


def _scale(col: dict, where: str, vtype: str, problems: _Problems) -> int | None:
    value = col.get("scale")
    if value is None:
        return None
    if vtype != "amount":
        problems.add(f"{where}.scale", "is for amount columns")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2:
        problems.add(f"{where}.scale", "the most decimals an amount may have: 0, 1 or 2 (the store keeps two)")
        return None
    return value
