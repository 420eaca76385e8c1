"""The hand-written notes corpora of tests/corpus/notes/ as labelled examples.

Each corpus folder holds ``notes.txt`` (one note per line, ``#`` comments; every personal datum written as
``{{LABEL|text}}``), ``customers.tsv`` (the outlet's customer master: name, mobile) and its PROVENANCE.md.
They were written by hand by contributors who did not see the detector. This module only reads them:
plain text, the labelled spans (character offsets into the plain text), the deny list of customer names.

Labels: CUSTOMER and PERSON (names; a customer is on the master list, a person is not), MOBILE, LANDLINE,
ID, CARD, EMAIL, ADDRESS, PLATE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "corpus" / "notes"
SPAN = re.compile(r"\{\{([A-Z]+)\|([^{}|]+)\}\}")
# What the masker calls each label's entity, by kind (names, phones, identifiers, …).
KINDS = {"CUSTOMER": "name", "PERSON": "name", "MOBILE": "phone", "LANDLINE": "phone", "ID": "identifier",
         "CARD": "identifier", "EMAIL": "identifier", "ADDRESS": "address", "PLATE": "plate"}


@dataclass(frozen=True)
class Note:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, LABEL)
    section: str
    corpus: str


@dataclass
class Corpus:
    name: str
    notes: list[Note] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    mobiles: list[str] = field(default_factory=list)


def parse_line(line: str) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """Plain text and its labelled spans from one marked-up line."""
    out, spans, at = [], [], 0
    for m in SPAN.finditer(line):
        out.append(line[at:m.start()])
        start = sum(map(len, out))
        out.append(m.group(2))
        spans.append((start, start + len(m.group(2)), m.group(1)))
        at = m.end()
    out.append(line[at:])
    return "".join(out), tuple(spans)


def load(name: str) -> Corpus:
    folder = ROOT / name
    corpus = Corpus(name)
    section = ""
    for raw in (folder / "notes.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            section = line.lstrip("# ").strip() or section
            continue
        text, spans = parse_line(line)
        corpus.notes.append(Note(text, spans, section, name))
    for raw in (folder / "customers.tsv").read_text(encoding="utf-8").splitlines():
        if raw.strip() and not raw.startswith("#"):
            parts = raw.split("\t")
            corpus.customers.append(parts[0].strip())
            if len(parts) > 1 and parts[1].strip():
                corpus.mobiles.append(parts[1].strip())
    return corpus


def names() -> list[str]:
    """The corpora there are (folders with a notes.txt)."""
    return sorted(p.parent.name for p in ROOT.glob("*/notes.txt"))
