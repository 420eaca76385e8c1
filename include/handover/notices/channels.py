"""The channels a notice goes by, behind one interface: ``send(message) -> Outcome``, and for a channel
whose provider can be asked, ``lookup(key)`` (what it knows of a message by its idempotency key).

- :class:`SmtpChannel` — e-mail over SMTP (Python's ``smtplib`` and ``email`` build and send the MIME
  message: text and HTML alternatives). The message's ``Message-ID`` is its idempotency key. SMTP cannot be
  asked afterwards whether a message arrived (RFC 5321 §6.1), so a message killed between its send and its
  receipt is never sent again on this channel: the deliverer marks it ``in_doubt`` and the notice falls
  back to its next channel.
- :class:`SmsGateway` — SMS through a provider's HTTP API: a JSON request signed with HMAC-SHA256 over the
  timestamp and the body (``X-Handover-Timestamp``, ``X-Handover-Signature``), the idempotency key as
  ``client_ref``; the provider's receipt (message id, status) comes back; ``GET /messages/<client_ref>``
  answers what it knows of a message.
- :class:`LetterBatch` — letters written to the print batch folder, one file per letter, owner-only.

Settings are plain dataclasses (the Airflow glue makes them from connections). No outcome, log line or
error here ever holds an address: reasons are codes (``smtp_550``, ``http_503``, ``connection``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Protocol

# outcome kinds: sent (accepted; receipt), delivered (the provider confirmed delivery), retry (transient),
# bounced (refused for good: the address), undelivered (the provider could not deliver it), invalid (the
# contact is not usable on this channel)
SENT, DELIVERED, RETRY, BOUNCED, UNDELIVERED = "sent", "delivered", "retry", "bounced", "undelivered"


@dataclass(frozen=True)
class Message:
    key: str  # idempotency key
    channel: str
    to: str  # the contact, decrypted for this batch only
    subject: str | None
    text: str
    html: str | None = None
    name: str | None = None  # letters: the addressee

    def __repr__(self) -> str:  # never the contact or the text
        return f"Message(key={self.key}, channel={self.channel})"


@dataclass(frozen=True)
class Outcome:
    kind: str
    receipt: str | None = None
    reason: str | None = None


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> Outcome: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "noreply@localhost"  # the From address
    sender_name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str = "none"  # none | starttls | ssl
    timeout: float = 30.0


class SmtpChannel:
    """One SMTP connection per batch, opened on the first message and reused."""

    name = "email"
    can_lookup = False

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
            self._smtp = smtp
        return self._smtp

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = formataddr((self.settings.sender_name or "", self.settings.sender))
        mail["To"] = message.to
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.key}@{self.settings.sender.rpartition('@')[2] or 'handover'}>"
        mail["X-Handover-Key"] = message.key
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    def send(self, message: Message) -> Outcome:
        try:
            refused = self._connection().send_message(self.build(message))
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            return self._refused(code)
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            return self._refused(exc.smtp_code)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome(RETRY, reason=f"smtp_{type(exc).__name__.lower()}")
        if refused:
            return self._refused(next(iter(refused.values()))[0])
        return Outcome(SENT, receipt=message.key)

    def _refused(self, code: int) -> Outcome:
        if 400 <= code < 500:
            return Outcome(RETRY, reason=f"smtp_{code}")
        return Outcome(BOUNCED, reason=f"smtp_{code}")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


@dataclass(frozen=True)
class SmsSettings:
    url: str  # the provider's API base, e.g. https://sms.example.cn/api
    secret: str = field(repr=False)  # the signing secret
    account: str | None = None
    sign_name: str | None = None  # the registered SMS signature (签名), e.g. the party's short name
    timeout: float = 15.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class SmsGateway:
    name = "sms"
    can_lookup = True

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings

    def _request(self, method: str, path: str, payload: dict | None) -> tuple[int, dict]:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            self.settings.url.rstrip("/") + path, data=body if payload is not None else None, method=method,
            headers={"Content-Type": "application/json; charset=utf-8", "X-Handover-Timestamp": stamp,
                     "X-Handover-Signature": signature(self.settings.secret, stamp, body)}
            | ({"X-Handover-Account": self.settings.account} if self.settings.account else {}))
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                return response.status, _json_body(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json_body(exc.read())

    def send(self, message: Message) -> Outcome:
        try:
            status, reply = self._request("POST", "/messages", {"to": message.to, "text": message.text,
                                                                 "client_ref": message.key})
        except (urllib.error.URLError, OSError, TimeoutError):
            return Outcome(RETRY, reason="sms_connection")
        return _sms_outcome(status, reply)

    def lookup(self, key: str) -> Outcome | None:
        """What the provider knows of the message with this key (None: it never received it)."""
        try:
            status, reply = self._request("GET", f"/messages/{key}", None)
        except (urllib.error.URLError, OSError, TimeoutError):
            return Outcome(RETRY, reason="sms_connection")
        if status == 404:
            return None
        return _sms_outcome(status, reply)

    def close(self) -> None:
        pass


def _json_body(raw: bytes) -> dict:
    try:
        value = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _sms_outcome(status: int, reply: dict) -> Outcome:
    receipt = reply.get("receipt")
    receipt = str(receipt)[:100] if receipt is not None else None
    if status == 429 or status >= 500:
        return Outcome(RETRY, reason=f"http_{status}")
    if status in (400, 404, 422):  # the provider refuses the number for good
        return Outcome(BOUNCED, receipt, reason=f"sms_{str(reply.get('error', status))[:40]}")
    if status >= 300:
        return Outcome(RETRY, reason=f"http_{status}")
    state = str(reply.get("status", "accepted"))
    if state == "delivered":
        return Outcome(DELIVERED, receipt)
    if state in ("undelivered", "failed", "rejected"):
        return Outcome(UNDELIVERED, receipt, reason=f"sms_{state}")
    return Outcome(SENT, receipt)


class LetterBatch:
    """Letters to print: one owner-only file per letter in the batch folder (the print house's intake)."""

    name = "letter"
    can_lookup = True

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def send(self, message: Message) -> Outcome:
        from handover import private_files

        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{message.key}.txt"
        if not path.exists():
            private_files.write(path, message.text.encode("utf-8"))
        return Outcome(DELIVERED, receipt=path.name)

    def lookup(self, key: str) -> Outcome | None:
        path = self.folder / f"{key}.txt"
        return Outcome(DELIVERED, receipt=path.name) if path.exists() else None

    def close(self) -> None:
        pass
