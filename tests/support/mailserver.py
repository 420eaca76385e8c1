"""Real servers on loopback for the notice channels' tests: an SMTP server (socketserver, RFC 5321's few
commands a client needs) that keeps what arrived, and an SMS gateway (http.server) that checks the request's
HMAC signature, records every request, returns receipts, honours ``client_ref`` (a message sent again with
the same one is not delivered again) and fails when told to. Each runs in a thread of the test's process;
a deliverer in a child process reaches them over TCP like any client."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Arrived:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class SmtpBehaviour:
    refuse: set[str] = field(default_factory=set)  # recipients answered 550 (a bounce)
    defer_first: int = 0  # the first n DATA commands answered 451 (try again later)
    delay: float = 0.0  # seconds before answering a DATA


class _SmtpHandler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True  # replies of several writes would each wait for the client's delayed ACK
    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        server: SmtpServer = self.server.owner  # type: ignore[attr-defined]
        self._say("220 localhost test SMTP")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK\r\n")
                self.wfile.flush()
            elif verb == "MAIL":
                sender, recipients = _address(line), []
                self._say("250 OK")
            elif verb == "RCPT":
                to = _address(line)
                if to in server.behaviour.refuse:
                    self._say("550 5.1.1 no such user")
                else:
                    recipients.append(to)
                    self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go on")
                lines = []
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                with server.lock:
                    server.data_commands += 1
                    deferred = server.data_commands <= server.behaviour.defer_first
                if server.behaviour.delay:
                    time.sleep(server.behaviour.delay)
                if deferred:
                    self._say("451 4.3.0 try again later")
                else:
                    with server.lock:
                        server.arrived.append(Arrived(sender or "", recipients, b"".join(lines)))
                    self._say("250 OK queued")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                self._say("250 OK")
            elif verb == "NOOP":
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


def _address(line: str) -> str:
    part = line.split(":", 1)[1].strip()
    return part[1:part.index(">")] if part.startswith("<") else part.split()[0]


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpServer:
    def __init__(self, behaviour: SmtpBehaviour | None = None) -> None:
        self.behaviour = behaviour or SmtpBehaviour()
        self.arrived: list[Arrived] = []
        self.data_commands = 0
        self.lock = threading.Lock()
        self._server = _Threaded(("127.0.0.1", 0), _SmtpHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class GatewayBehaviour:
    fail_next: int = 0  # the next n sends answered 503
    reject: set[str] = field(default_factory=set)  # numbers refused (400)
    undeliverable: set[str] = field(default_factory=set)  # accepted, then reported undelivered
    report: str = "delivered"  # what a later status query says of an accepted message


class SmsGatewayServer:
    def __init__(self, secret: str, behaviour: GatewayBehaviour | None = None) -> None:
        self.secret = secret
        self.behaviour = behaviour or GatewayBehaviour()
        self.requests: list[dict] = []  # every request: method, path, body (parsed), signature_ok
        self.messages: dict[str, dict] = {}  # client_ref → what was delivered
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body are two writes: without it each reply waits 40 ms
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _signed(self, body: bytes) -> bool:
                stamp = self.headers.get("X-Handover-Timestamp", "")
                want = hmac.new(owner.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                return hmac.compare_digest(want, self.headers.get("X-Handover-Signature", ""))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = self._signed(body)
                payload = json.loads(body or b"{}")
                with owner.lock:
                    owner.requests.append({"method": "POST", "path": self.path, "body": payload, "signature_ok": ok})
                    if not ok:
                        return self._reply(401, {"error": "bad_signature"})
                    if owner.behaviour.fail_next > 0:
                        owner.behaviour.fail_next -= 1
                        return self._reply(503, {"error": "busy"})
                    if payload["to"] in owner.behaviour.reject:
                        return self._reply(400, {"error": "invalid_number"})
                    ref = payload["client_ref"]
                    if ref in owner.messages:  # the same message again: not delivered twice
                        known = owner.messages[ref]
                        return self._reply(200, {"receipt": known["receipt"], "status": known["status"],
                                                 "duplicate": True})
                    status = "accepted"
                    owner.messages[ref] = {"receipt": f"R{len(owner.messages) + 1:06d}", "to": payload["to"],
                                           "text": payload["text"], "status": status}
                    return self._reply(200, {"receipt": owner.messages[ref]["receipt"], "status": status})

            def do_GET(self) -> None:
                ok = self._signed(b"")
                ref = self.path.rsplit("/", 1)[-1]
                with owner.lock:
                    owner.requests.append({"method": "GET", "path": self.path, "signature_ok": ok})
                    if not ok:
                        return self._reply(401, {"error": "bad_signature"})
                    known = owner.messages.get(ref)
                    if known is None:
                        return self._reply(404, {"error": "unknown"})
                    if known["status"] == "accepted":  # the delivery report has come in
                        known["status"] = "undelivered" if known["to"] in owner.behaviour.undeliverable \
                            else owner.behaviour.report
                    return self._reply(200, {"receipt": known["receipt"], "status": known["status"]})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def sends(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
