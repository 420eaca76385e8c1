"""The transfer notice's texts, rendered from the contract by the templates in ``templates/`` (one folder).

Jinja2 with ``StrictUndefined`` (a missing fact fails, it is never rendered as nothing) and autoescaping
for the HTML part; the text parts are not HTML, and have control characters removed from every value.
SMS length is counted as the carriers bill it (:func:`sms_segments`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    UndefinedError,
    select_autoescape,
)

from handover.contract import Contract
from handover.errors import HandoverError

TEMPLATES = Path(__file__).parent / "templates"

# GSM 03.38: the basic set counts 1, the extension table 2 (escape + char); anything else makes it UCS-2.
_GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SMS_MOST_SEGMENTS = 4  # a notice SMS longer than this is a template mistake: the run stops before sending


class NoticeError(HandoverError):
    """A notice cannot be made from this contract (no notice section, a template that breaks)."""


def sms_segments(text: str) -> int:
    """How many messages the text is billed as: UCS-2 (any Chinese character) 70 characters in one, 67 per
    segment when concatenated (the rest is the concatenation header); GSM 7-bit 160, or 153 each."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        septets = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2  # characters beyond the BMP take two
    return 1 if units <= 70 else math.ceil(units / 67)


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=False,
                      autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                                   default=False))
    env.finalize = lambda v: _CONTROL.sub("", v) if isinstance(v, str) else v
    return env


@dataclass(frozen=True)
class NoticeFacts:
    """What every notice of one run says: the parties, the branch, the notice section, the deadline."""
    party: Any
    transferring: Any
    branch_name: str
    notice: Any
    deadline: str
    prepared_on: str

    @classmethod
    def of(cls, contract: Contract, prepared_on: dt.date) -> NoticeFacts:
        if contract.notice is None:
            raise NoticeError(f"contract {contract.path} has no notice section: customers cannot be told what PIPL "
                              "Art. 17 asks (purposes, methods, categories, retention, rights, by when) — add "
                              "`notice:` and the receiving party's contacts (docs/contract.md)")
        deadline = contract.notice.respond_within.after(prepared_on)
        return cls(contract.receiving_party, contract.transferring_party, contract.branch_name, contract.notice,
                   chinese_date(deadline), chinese_date(prepared_on))

    def _context(self, **more) -> dict:
        return {"party": self.party, "transferring": self.transferring, "branch_name": self.branch_name,
                "notice": self.notice, "deadline": self.deadline, "prepared_on": self.prepared_on} | more


def _render(name: str, context: dict) -> str:
    try:
        return _environment().get_template(name).render(context).strip() + ("\n" if not name.endswith("html") else "")
    except (TemplateError, TypeError, AttributeError) as exc:  # a template mistake: its name and line, no value
        line = getattr(exc, "lineno", None)
        undefined = f" ({exc.message})" if isinstance(exc, UndefinedError) and exc.message else ""
        raise NoticeError(f"notice template {name}{f', line {line}' if line else ''}: {type(exc).__name__}"
                          f"{undefined}") from None


def sms(facts: NoticeFacts, reference: str) -> str:
    text = _render("sms.txt", facts._context(reference=reference)).strip()
    if sms_segments(text) > SMS_MOST_SEGMENTS:
        raise NoticeError(f"the notice SMS is {sms_segments(text)} segments, over {SMS_MOST_SEGMENTS}: shorten "
                          "templates/sms.txt or the party's name")
    return text


def email(facts: NoticeFacts, reference: str) -> tuple[str, str, str]:
    """(subject, text, HTML)."""
    context = facts._context(reference=reference)
    return (_render("email_subject.txt", context).strip(), _render("email.txt", context),
            _render("email.html", context))


def letter(facts: NoticeFacts, reference: str, name: str, address: str) -> str:
    return _render("letter.txt", facts._context(reference=reference,
                                                recipient={"name": name, "address": address}))


def announcement(facts: NoticeFacts, unreachable: int) -> str:
    """The public announcement (公告) for the customers no channel reached: no customer named."""
    return _render("announcement.txt", facts._context(unreachable=unreachable))


# What a confirmation calls the contact that changed (handover.updates: a changed mobile or e-mail).
CONTACT_NAMES = {"mobile": "手机号码", "email": "电子邮箱"}
ROLES = ("old", "new")  # to the contact the change replaced, to the one it set


def _confirmation_context(facts: NoticeFacts, reference: str, what: str, role: str) -> dict:
    if what not in CONTACT_NAMES or role not in ROLES:
        raise NoticeError(f"a confirmation is of {', '.join(CONTACT_NAMES)} to the {' or '.join(ROLES)} contact")
    return facts._context(reference=reference, what=CONTACT_NAMES[what], role=role)


def confirmation_sms(facts: NoticeFacts, reference: str, what: str, role: str) -> str:
    """The SMS confirming a changed contact (``role``: sent to the old contact or to the new one)."""
    text = _render("confirm_sms.txt", _confirmation_context(facts, reference, what, role)).strip()
    if sms_segments(text) > SMS_MOST_SEGMENTS:
        raise NoticeError(f"the confirmation SMS is {sms_segments(text)} segments, over {SMS_MOST_SEGMENTS}: "
                          "shorten templates/confirm_sms.txt or the party's name")
    return text


def confirmation_email(facts: NoticeFacts, reference: str, what: str, role: str) -> tuple[str, str, str]:
    """(subject, text, HTML) of the e-mail confirming a changed contact."""
    context = _confirmation_context(facts, reference, what, role)
    return (_render("confirm_email_subject.txt", context).strip(), _render("confirm_email.txt", context),
            _render("confirm_email.html", context))
