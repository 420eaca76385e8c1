"""The "Handover" page of the Airflow UI: a FastAPI app that the API server mounts under ``/handover``
(registered by ``plugins/handover_plugin.py``), reading the target store (connection ``handover_target``).

Routes (every one behind Airflow's own authentication and authorisation, see below):

- ``GET /``                              the page: transfers and their reconciliation, manifests and their
                                          signatures, backups and their checks, restores, purges, erasures
                                          (server-rendered HTML, inline CSS, charts as inline SVG, no script)
- ``GET /api/overview``                  the same, as JSON (:func:`handover.overview.overview`)
- ``GET /manifests/{run_id}``            the signed manifest, byte for byte as signed (``manifest-….json``)
- ``GET /manifests/{run_id}/signature``  its Ed25519 signature, base64 (``manifest-….json.sig``)
- ``GET /manifests/{run_id}/public-key`` the public key stored beside it (``manifest-….pub.pem``)
- ``POST /objections``                   the operator's action: a customer's objection or withdrawal recorded
                                          (`handover.notices.objections.record`, source ``page`` or ``letter``)

The action is a form on the page, posted in the request body — the identifier is never in a URL, a log line
or the answer. It asks the auth manager for the custom view with ``method="POST"`` as well (FAB: edit on
``Handover``; the SimpleAuthManager grants every method to each role that has the view), and, when the
session comes from the UI's ``_token`` cookie (which a browser sends with any request), a CSRF token: the
form carries an HMAC of the session's token, which another site cannot read or make; a request that a
browser marks as cross-site (``Sec-Fetch-Site``) is refused before that. A Bearer header is never sent by a
browser on its own: such a request needs no form token.

Authentication and authorisation: the app is built with two app-wide dependencies. Airflow's
``airflow.api_fastapi.core_api.security.get_user`` takes the JWT from ``Authorization: Bearer`` or from the
``_token`` cookie the Airflow UI sets, and answers 401 without one (403 for a token that does not verify).
Then :func:`authorised` asks Airflow's auth manager whether the user may see the custom view ``Handover``
(``is_authorized_custom_view(method="GET", resource_name="Handover")``): roles grant it — with the
SimpleAuthManager every role from Viewer up, and a user with no role nothing; FAB maps it to the read
permission on a resource named ``Handover``, Keycloak and AWS to a custom resource of that name. A signed-in
user without it gets 403 on every route. Being app-wide, a route added later
cannot forget either; the OpenAPI and docs routes, which FastAPI adds outside that mechanism, are
switched off.

Path parameters are checked before the store is asked: a run id is at most 250 characters (Airflow's
limit) of printable text, or the answer is 404 (a NUL would make PostgreSQL refuse the query: a 500).

The plugin is imported by every Airflow component (scheduler, workers, the DAG processor), so this module
imports nothing heavy: :data:`app` is a small ASGI callable that builds the FastAPI app — importing
FastAPI, Airflow's security module, psycopg2 and the domain package — on its first request, in the API
server.
"""

import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import math
import re
from collections import Counter
from contextlib import contextmanager
from urllib.parse import quote

log = logging.getLogger(__name__)

URL_PREFIX = "/handover"
VIEW = "Handover"  # the custom view roles grant (auth manager's is_authorized_custom_view)
RUN_ID_LIMIT = 250  # Airflow's dag_run.run_id is a String(250)
FORBIDDEN = "Forbidden: your Airflow role does not grant the Handover view"
CHINA = dt.timezone(dt.timedelta(hours=8), "UTC+8")  # Asia/Shanghai: no daylight saving time since 1991
CONNECT_TIMEOUT = 5

FORM_LIMIT = 4_096  # bytes of a posted form: an identifier and a few choices
CSRF_PURPOSE = b"handover/page-action"

SECURITY_HEADERS = {
    # No script at all, nothing from another origin: the page is self-contained by policy, not just by habit;
    # its one form posts to this app only.
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                "frame-ancestors 'self'; base-uri 'none'; form-action 'self'"),
    "X-Frame-Options": "SAMEORIGIN",  # shown inside the Airflow UI (same origin), nowhere else
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class StoreUnavailable(Exception):
    """The target store cannot be read: not configured, unreachable, or refusing. Shown as HTTP 503."""


class HandoverApp:
    """The ASGI app the plugin registers: builds :func:`create_app` on first use (in the API server only)."""

    def __init__(self) -> None:
        self._app = None

    @property
    def app(self):
        if self._app is None:
            self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


app = HandoverApp()


# -- the target store ----------------------------------------------------------------------------------

def target_dsn() -> str:
    """libpq DSN of connection ``handover_target``, read the API server's way (environment variable
    ``AIRFLOW_CONN_HANDOVER_TARGET``, any secrets backend, then the metadata database). The Task SDK's
    ``airflow.sdk.Connection`` is for tasks; here there is no supervisor to ask."""
    from airflow.models.connection import Connection

    from handover_airflow.runtime import TARGET_CONN_ID, dsn_from_connection

    return dsn_from_connection(Connection.get_connection_from_secrets(TARGET_CONN_ID))


@contextmanager
def store(readonly: bool = True):
    """A read-only connection to the target store (``readonly=False``: for the page's one action);
    :class:`StoreUnavailable` with a message fit for the page (the error class, never a traceback or a DSN)
    when there is none. The details go to the server log."""
    from handover.errors import StoreError
    from handover.store import connect
    from psycopg2.extensions import make_dsn, parse_dsn

    from handover_airflow.runtime import TARGET_CONN_ID

    try:
        params = parse_dsn(target_dsn())
    except Exception as exc:  # noqa: BLE001 — not found, a secrets backend down, a malformed URI: all one to the page
        log.warning("handover page: connection %s: %s", TARGET_CONN_ID, type(exc).__name__)
        raise StoreUnavailable(f"The target store is not configured: connection {TARGET_CONN_ID} could not be "
                               f"read ({type(exc).__name__}).") from None
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
    params.pop("application_name", None)
    opened = False
    try:
        with connect(make_dsn(**params), "handover page", application_name="handover-ui", readonly=readonly) as conn:
            opened = True
            yield conn
    except StoreError as exc:  # told without values (handover.store.connection): fit for the server log
        log.warning("handover page: %s", exc)
        what = "could not be read" if opened else "is unreachable"
        raise StoreUnavailable(f"The target store (connection {TARGET_CONN_ID}) {what} (StoreError).") from None


def configured_fingerprint() -> str | None:
    """Fingerprint of the configured signing key's public half (Variable ``handover_signing_key``): a manifest
    whose signer is this key was signed by this deployment. ``None`` when it is not configured or readable;
    only the fingerprint leaves this function."""
    from handover_airflow.runtime import SIGNING_KEY_VARIABLE

    try:
        from airflow.models.variable import Variable

        text = Variable.get(SIGNING_KEY_VARIABLE, default_var=None)
        if not text:
            return None
        from handover.crypto import fingerprint, public_pem, signing_key

        return fingerprint(public_pem(signing_key(text)))
    except Exception as exc:  # noqa: BLE001 — the page still works; "trusted" is then unknown
        log.warning("handover page: the configured signing key could not be read (%s)", type(exc).__name__)
        return None


def possible_run_id(run_id: str) -> bool:
    """Whether ``run_id`` could name a run at all: at most :data:`RUN_ID_LIMIT` characters, none of them a
    control character (a NUL cannot even be sent to PostgreSQL)."""
    return 0 < len(run_id) <= RUN_ID_LIMIT and run_id.isprintable()


def download_name(run_id: str, suffix: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._")[:120] or "run"
    return f"manifest-{slug}{suffix}"


# -- the FastAPI app -----------------------------------------------------------------------------------

def authorised(user, method: str = "GET") -> bool:
    """Whether Airflow's auth manager lets ``user`` see the Handover page (the custom view :data:`VIEW`), or —
    ``method="POST"`` — act on it."""
    from airflow.api_fastapi.app import get_auth_manager

    try:
        return bool(get_auth_manager().is_authorized_custom_view(method=method, resource_name=VIEW, user=user))
    except Exception as exc:  # noqa: BLE001 — an auth manager that cannot decide (a role it does not know): no
        log.warning("handover page: the auth manager could not authorise a user (%s)", type(exc).__name__)
        return False


def create_app():
    """The FastAPI app: every route requires an authenticated Airflow user whose roles grant the Handover view
    (app-wide dependencies)."""
    from airflow.api_fastapi.core_api.security import GetUserDep, get_user
    from fastapi import Depends, FastAPI, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from handover import overview
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def require_view(user: GetUserDep) -> None:
        if not authorised(user):
            raise StarletteHTTPException(403, FORBIDDEN)

    api = FastAPI(title="Handover", description="The Handover page of the Airflow UI.",
                  dependencies=[Depends(get_user), Depends(require_view)],  # every route, present and future
                  docs_url=None, redoc_url=None, openapi_url=None)  # these would be served without it

    @api.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def wants_html(request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code in (401, 403) and wants_html(request):
            if exc.detail == FORBIDDEN:
                return HTMLResponse(render_forbidden(), status_code=403)
            return HTMLResponse(render_signin(request, exc.status_code), status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return await http_exception_handler(request, exc)

    @api.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable):
        if wants_html(request) or request.url.path.rstrip("/") == request.scope.get("root_path", "").rstrip("/"):
            return HTMLResponse(render_unavailable(str(exc)), status_code=503)
        return JSONResponse({"detail": str(exc)}, status_code=503)

    def read_overview() -> dict:
        trusted = configured_fingerprint()
        with store() as conn:
            return overview.overview(conn, trusted_fingerprint=trusted)

    def read_manifest(run_id: str) -> dict:
        if not possible_run_id(run_id):  # never sent to the store, never echoed
            raise StarletteHTTPException(404, "no manifest for that run: not a run id")
        with store() as conn:
            found = overview.manifest(conn, run_id)
        if found is None or found["text"] is None:
            raise StarletteHTTPException(404, f"no manifest for run {run_id}")
        return found

    @api.get("/", response_class=HTMLResponse)
    def page(request: Request, user: GetUserDep):  # the app-wide dependency's result, cached per request
        data = read_overview()
        base = request.scope.get("root_path", "").rstrip("/")
        token, _ = session_token(request)
        act = csrf_token(token) if token and authorised(user, "POST") else None
        return HTMLResponse(render_page(data, base=base, user=_user_name(user), csrf=act))

    @api.post("/objections", response_class=HTMLResponse)
    async def record_objection(request: Request, user: GetUserDep):
        if not authorised(user, "POST"):
            raise StarletteHTTPException(403, FORBIDDEN)
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise StarletteHTTPException(403, "a cross-site request may not act on the Handover page")
        body = await request.body()
        if len(body) > FORM_LIMIT:
            raise StarletteHTTPException(413, "the form is larger than an objection can be")
        form = parse_form(body)
        token, from_cookie = session_token(request)
        if from_cookie and not (token and hmac.compare_digest(form.get("csrf", ""), csrf_token(token))):
            raise StarletteHTTPException(403, "the form's token does not match your session: reload the page and "
                                              "send the form again")
        base = request.scope.get("root_path", "").rstrip("/")
        status, text = act_on_objection(form, _user_name(user) or "operator")
        return HTMLResponse(render_action(text, base=base), status_code=status)

    @api.get("/api/overview")
    def overview_json():
        return JSONResponse(read_overview())

    @api.get("/insights.csv")
    def insights_csv():
        from handover.insights import store as published

        with store() as conn:
            text = published.csv_text(conn)
        if text is None:
            raise StarletteHTTPException(404, "no insight run yet")
        return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="handover-insights.csv"'})

    @api.get("/manifests/{run_id}")
    def manifest_file(run_id: str):
        found = read_manifest(run_id)
        return Response(found["text"].encode("utf-8"), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{download_name(run_id, ".json")}"'})

    @api.get("/manifests/{run_id}/signature")
    def manifest_signature(run_id: str):
        found = read_manifest(run_id)
        if not found["signature"]:
            raise StarletteHTTPException(404, f"the manifest of run {run_id} is not signed")
        return Response(found["signature"].strip() + "\n", media_type="text/plain",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{download_name(run_id, ".json.sig")}"'})

    @api.get("/manifests/{run_id}/public-key")
    def manifest_public_key(run_id: str):
        found = read_manifest(run_id)
        if not found["public_key"]:
            raise StarletteHTTPException(404, f"the manifest of run {run_id} has no public key")
        return Response(found["public_key"], media_type="application/x-pem-file",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{download_name(run_id, ".pub.pem")}"'})

    return api


def session_token(request) -> tuple[str | None, bool]:
    """The request's Airflow token, and whether it came from the UI's cookie (sent by a browser with every
    request, so a form posted with it needs a CSRF token) rather than an ``Authorization`` header."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None, False
    return request.cookies.get("_token"), True


def csrf_token(session: str) -> str:
    """The form token of a session: an HMAC of its (secret, unguessable) token — another site can neither read
    it nor make it."""
    return hmac.new(session.encode("utf-8"), CSRF_PURPOSE, hashlib.sha256).hexdigest()


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body: the first value of each field (never logged)."""
    from urllib.parse import parse_qs

    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in fields.items() if v}


ACTION_KINDS = {"objection": "objection (反对转移)", "withdrawal": "withdrawal of consent (撤回同意)"}
ACTION_SOURCES = {"page": "told the operator (counter, telephone)", "letter": "a letter"}
ID_KINDS = {"customer_id": "customer id (with its branch)", "mobile": "mobile", "id_number": "ID number"}


def act_on_objection(form: dict[str, str], operator: str) -> tuple[int, str]:
    """Record the objection or withdrawal the form describes; (HTTP status, what to tell the operator). The
    identifier goes to the blind index and nowhere else: not into the answer, nor a log line."""
    from handover.errors import HandoverError
    from handover.notices import objections

    kind, id_kind = form.get("kind", ""), form.get("id_kind", "")
    source, branch = form.get("source", "page"), (form.get("branch_id") or "").strip() or None
    if kind not in ACTION_KINDS or id_kind not in ID_KINDS or source not in ACTION_SOURCES:
        return 400, "The form is not complete: choose what the customer said, how they are named and how it came."
    if id_kind == "customer_id" and branch is None:
        return 400, "A customer id names a customer within a branch: give the branch too."
    try:
        with store(readonly=False) as conn:
            hasher = page_hasher(conn)
            if hasher is None:
                return 409, "The target store has no customers yet (no blind-index key): nobody to record this for."
            outcomes = objections.record(conn, hasher, kind=kind, id_kind=id_kind, value=form.get("identifier", ""),
                                         branch_id=branch, source=source, received_by=f"page:{operator}")
    except HandoverError as exc:  # names the kind and the rule, never the value (handover.purge.erasure)
        return 400, f"Not recorded: {exc}."
    log.info("handover page: %s recorded by %s for %d customer(s)", kind, operator, len(outcomes))
    if not outcomes:
        return 404, "No loaded customer matches that identifier: nothing was recorded."
    done = [o for o in outcomes if not o["already"]]
    parts = [f"{ACTION_KINDS[kind].capitalize()} recorded for {len(outcomes)} customer(s)."]
    if done:
        parts.append(f"Processing stopped: {sum(o['analytics_rows_removed'] for o in done)} analytics row(s) removed, "
                     f"{sum(o['messages_cancelled'] for o in done)} waiting message(s) cancelled; erasure request(s) "
                     f"{', '.join(str(o['erasure_request']) for o in done)} filed for the retention schedule.")
    if len(done) < len(outcomes):
        parts.append(f"{len(outcomes) - len(done)} had said so before: nothing more to do for them.")
    return 200, " ".join(parts)


def page_hasher(conn):
    """The blind-index hasher of the store, under the master key (Variable ``handover_master_key``, read the
    API server's way); None when the store has none (nothing indexed: nobody to find)."""
    from airflow.models.variable import Variable
    from handover.crypto import MasterKey
    from handover.store import keys

    from handover_airflow.runtime import MASTER_KEY_VARIABLE

    text = Variable.get(MASTER_KEY_VARIABLE, default_var=None)
    if not text:
        raise StoreUnavailable(f"The master key (Variable {MASTER_KEY_VARIABLE}) is not configured: the page cannot "
                               "find a customer by identifier.")
    return keys.hasher(conn, MasterKey.from_text(text), create=False)


def render_action(text: str, *, base: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Handover: objection</title>'
            f'<style>{CSS}</style></head><body><header><h1>Handover · 网点转让</h1></header>'
            f'<p>{esc(text)}</p><p><a href="{esc(base)}/#customers">Back to the page</a></p></body></html>')


def _user_name(user) -> str | None:
    try:
        return user.get_name()
    except Exception:  # noqa: BLE001 — an auth manager's user without a name
        return None


# -- formatting ----------------------------------------------------------------------------------------

def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(iso: str | None, seconds: bool = False) -> str:
    if not iso:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d")  # a date
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def num(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def size(n) -> str:
    if n is None:
        return "—"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def secs(value) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


STATUS_CLASS = {"success": "ok", "done": "ok", "valid": "ok", "failed": "bad", "invalid": "bad",
                "refused": "warn", "running": "info", "pending": "info", "dry_run": "info", "abandoned": "muted",
                "interrupted": "bad", "no_match": "muted", "unsigned": "warn", "missing": "muted"}


def badge(text, kind: str | None = None, title: str | None = None) -> str:
    kind = kind or STATUS_CLASS.get(str(text), "muted")
    extra = f' title="{esc(title)}"' if title else ""
    return f'<span class="badge {kind}"{extra}>{esc(text)}</span>'


def reasons_text(reasons: dict) -> str:
    if not reasons:
        return '<span class="muted">—</span>'
    return ", ".join(f"<code>{esc(code)}</code> {num(n)}" for code, n in reasons.items())


# -- charts (inline SVG, drawn here) -------------------------------------------------------------------

DISPOSITION_COLOURS = {"loaded": "#2f855a", "quarantined": "#dd6b20", "excluded": "#718096",
                       "duplicates": "#9f7aea"}


MIN_CHART_WIDTH = 560  # room for the legend


def size_unit(largest: float) -> tuple[str, float]:
    """The binary unit an axis of byte sizes up to ``largest`` reads best in."""
    for power, unit in enumerate(("B", "KiB", "MiB", "GiB", "TiB")):
        if largest < 1024 ** (power + 1) or unit == "TiB":
            return unit, float(1024**power)
    return "TiB", float(1024**4)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ value (an axis' top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _axis(x0: float, y0: float, height: float, top: float, fmt, *, right: bool = False, ticks: int = 4,
          x1: float | None = None) -> list[str]:
    parts = []
    for i in range(ticks + 1):
        value = top * i / ticks
        y = y0 - height * i / ticks
        anchor, tx = ("start", x0 + 6) if right else ("end", x0 - 6)
        if x1 is not None:
            parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{tx}" y="{y + 3.5:.1f}" text-anchor="{anchor}" class="tick">{esc(fmt(value))}</text>')
    return parts


def _svg(width: float, height: float, label: str, parts: list[str]) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart" role="img" '
            f'aria-label="{esc(label)}">' + "".join(parts) + "</svg>")


def _legend(entries, x: float) -> tuple[list[str], float]:
    """A colour swatch and its label per ``(label, colour)``, left to right from ``x``; the x after them."""
    parts = []
    for label, colour in entries:
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="15" class="legend">{esc(label)}</text>')
        x += 14 + 8 * len(label) + 18
    return parts, x


def _slanted_label(x: float, y0: float, text: str) -> str:
    """A bar's or a point's label under the axis, slanted so that dates fit."""
    return (f'<text x="{x:.1f}" y="{y0 + 12}" transform="rotate(-40 {x:.1f} {y0 + 12})" '
            f'text-anchor="end" class="tick">{esc(text)}</text>')


def _stacked_bar(x: float, y0: float, bar: float, scale: float, layers) -> tuple[list[str], float]:
    """One bar of ``(count, colour, tip, extra attributes)`` layers stacked bottom up (empty ones skipped),
    ``scale`` pixels per count; the parts and the bar's top."""
    parts, y = [], y0
    for n, colour, tip, extra in layers:
        if not n:
            continue
        h = scale * n
        y -= h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" '
                     f'fill="{colour}"{extra}><title>{esc(tip)}</title></rect>')
    return parts, y


def dispositions_chart(transfers: list[dict], limit: int = 30) -> str:
    """One stacked bar per transfer (oldest left): loaded, quarantined, excluded, duplicates."""
    runs = [t for t in reversed(transfers) if t["reconciliation"]["totals"]["source_rows"]][-limit:]
    if not runs:
        return '<p class="empty">No transfer with counts yet.</p>'
    left, right, top, bottom, plot_h = 64, 16, 28, 64, 200
    step = max(26, min(64, 640 // len(runs)))
    bar = step * 0.62
    width = max(MIN_CHART_WIDTH, left + right + step * len(runs))
    y0 = top + plot_h
    ceiling = nice_ceiling(max(t["reconciliation"]["totals"]["source_rows"] for t in runs))
    parts = _axis(left, y0, plot_h, ceiling, lambda v: f"{v:,.0f}", x1=left + step * len(runs))
    for i, t in enumerate(runs):
        totals = t["reconciliation"]["totals"]
        x = left + step * i + (step - bar) / 2
        dry = t["mode"] == "dry_run"
        opacity = ' fill-opacity="0.45"' if dry else ""
        layers, y = _stacked_bar(x, y0, bar, plot_h / ceiling, [
            (totals[d], colour, f"{t['run_id']} ({t['branch_id']}): {d} {totals[d]:,}", opacity)
            for d, colour in DISPOSITION_COLOURS.items()])
        parts += layers
        summary = (f"{t['run_id']} — {t['branch_id']}, {t['mode']}, {t['status']}: source {totals['source_rows']:,} = "
                   + " + ".join(f"{k} {totals[k]:,}" for k in DISPOSITION_COLOURS))
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{y0 - y:.1f}" class="outline'
                     f'{" dry" if dry else ""}"><title>{esc(summary)}</title></rect>')
        parts.append(_slanted_label(x + bar / 2, y0, when(t["started_at"])[5:]))
    legend, lx = _legend(DISPOSITION_COLOURS.items(), left)
    if any(t["mode"] == "dry_run" for t in runs):
        legend.append(f'<text x="{lx}" y="15" class="legend muted">pale: dry run</text>')
    return _svg(width, top + plot_h + bottom, "Dispositions per transfer", legend + parts)


def backups_chart(backups: list[dict], limit: int = 30) -> str:
    """Backups over time (oldest left): encrypted size as bars (left axis), duration as a line (right axis)."""
    items = list(reversed(backups))[-limit:]
    if not items:
        return '<p class="empty">No backup yet.</p>'
    left, right, top, bottom, plot_h = 72, 64, 28, 64, 180
    step = max(26, min(64, 640 // len(items)), (MIN_CHART_WIDTH - left - right) // len(items) if len(items) < 4 else 0)
    bar = min(step * 0.55, 40)
    width = left + right + step * len(items)
    height = top + plot_h + bottom
    y0 = top + plot_h
    unit, scale = size_unit(max(float(b["cipher_bytes"] or 0) for b in items))
    size_top = nice_ceiling(max(float(b["cipher_bytes"] or 0) for b in items) / scale) * scale
    secs_top = nice_ceiling(max(float(b["seconds"] or 0) for b in items))
    parts = _axis(left, y0, plot_h, size_top, lambda v: f"{v / scale:g} {unit}", x1=width - right)
    parts += _axis(width - right, y0, plot_h, secs_top, lambda v: f"{v:g} s", right=True)
    points = []
    for i, b in enumerate(items):
        x = left + step * i + (step - bar) / 2
        h = plot_h * float(b["cipher_bytes"] or 0) / size_top
        expired = b.get("expired_at") is not None
        tip = (f"{b['backup_id']}: {size(b['cipher_bytes'])} encrypted ({size(b['plain_bytes'])} plain), "
               f"{b['tables']} tables, {b['rows']:,} rows, {secs(b['seconds'])}" + (" — expired" if expired else ""))
        parts.append(f'<rect x="{x:.1f}" y="{y0 - h:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" '
                     f'class="size{" expired" if expired else ""}"><title>{esc(tip)}</title></rect>')
        cx = x + bar / 2
        cy = y0 - plot_h * float(b["seconds"] or 0) / secs_top
        points.append((cx, cy, f"{b['backup_id']}: took {secs(b['seconds'])}"))
        parts.append(_slanted_label(cx, y0, when(b["taken_at"])[5:]))
    if len(points) > 1:
        parts.append('<polyline class="duration" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
                     + '"/>')
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" class="duration-point"><title>{esc(tip)}</title></circle>'
              for x, y, tip in points]
    legend = (f'<rect x="{left}" y="6" width="10" height="10" class="size"/>'
              f'<text x="{left + 14}" y="15" class="legend">encrypted size</text>'
              f'<line x1="{left + 130}" x2="{left + 150}" y1="11" y2="11" class="duration"/>'
              f'<circle cx="{left + 140}" cy="11" r="3.5" class="duration-point"/>'
              f'<text x="{left + 156}" y="15" class="legend">duration (right axis)</text>')
    return _svg(width, height, "Backup sizes and durations", [legend, *parts])


ACTIVITY_COLOURS = {"active": "#2f855a", "churn_risk": "#dd6b20", "dormant": "#718096"}
SEGMENT_COLOUR = "#4a90c2"


def segments_chart(sizes: dict[str, int | None], *, label: str) -> str:
    """Horizontal bars, one per segment (largest first); a suppressed segment is named, not drawn."""
    shown = sorted(((s, n) for s, n in sizes.items() if n is not None), key=lambda x: (-x[1], x[0]))
    hidden = sorted(s for s, n in sizes.items() if n is None)
    if not shown:
        return '<p class="empty">Every segment is suppressed (fewer customers than k).</p>'
    left, right, row, top = 150, 70, 20, 8
    width, plot_w = MIN_CHART_WIDTH, MIN_CHART_WIDTH - left - right
    height = top + row * len(shown) + 8
    ceiling = nice_ceiling(max(n for _, n in shown))
    parts = []
    for i, (segment, n) in enumerate(shown):
        y = top + row * i
        w = plot_w * n / ceiling
        colour = ACTIVITY_COLOURS.get(segment, SEGMENT_COLOUR)
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" class="tick">{esc(segment)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row - 6}" fill="{colour}">'
                     f'<title>{esc(f"{segment}: {n:,} customers")}</title></rect>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 13}" class="tick">{n:,}</text>')
    svg = _svg(width, height, label, parts)
    if hidden:
        svg += f'<p class="muted">Suppressed (fewer than k, or would give such a cell away): {esc(", ".join(hidden))}.</p>'
    return svg


def activity_trend_chart(trend: list[dict]) -> str:
    """Customers per activity class over the insight runs (oldest left), one line per class."""
    return trend_chart(trend, ACTIVITY_COLOURS, label="Activity classes over time",
                       empty="A trend needs two insight runs.")


def trend_chart(trend: list[dict], colours: dict[str, str], *, label: str, empty: str,
                tick=lambda as_of: as_of[5:]) -> str:
    """Counts over time (oldest left), one line per series of ``colours``: ``trend`` is a list of
    ``{"as_of": …, "segments": {series: n}}``."""
    if len(trend) < 2:
        return f'<p class="empty">{esc(empty)}</p>'
    left, right, top, bottom, plot_h = 64, 16, 28, 56, 160
    step = max(26, min(64, 640 // len(trend)))
    width = max(MIN_CHART_WIDTH, left + right + step * len(trend))
    y0 = top + plot_h
    ceiling = nice_ceiling(max([n for t in trend for n in t["segments"].values()] or [1]))
    parts = _axis(left, y0, plot_h, ceiling, lambda v: f"{v:,.0f}", x1=left + step * len(trend))
    for i, t in enumerate(trend):
        x = left + step * i + step / 2
        parts.append(_slanted_label(x, y0, tick(t["as_of"])))
    for segment, colour in colours.items():
        points = [(left + step * i + step / 2, y0 - plot_h * t["segments"][segment] / ceiling, t["as_of"],
                   t["segments"][segment]) for i, t in enumerate(trend) if segment in t["segments"]]
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points) + '"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                  f'{esc(f"{day}: {segment} {n:,}")}</title></circle>' for x, y, day, n in points]
    legend, _ = _legend(colours.items(), left)
    return _svg(width, top + plot_h + bottom, label, legend + parts)


# -- the page ------------------------------------------------------------------------------------------

SEVERITY_COLOURS = {"high": "#c53030", "medium": "#dd6b20", "low": "#b7791f"}


def review_chart(history: list[dict]) -> str:
    """One stacked bar per review (oldest left): its failed checks by severity, the passed ones pale above —
    the trend week over week."""
    if not history:
        return '<p class="empty">No compliance review yet (DAG <code>compliance_review</code>).</p>'
    left, right, top, bottom, plot_h = 48, 16, 28, 56, 160
    step = max(26, min(64, 640 // len(history)))
    bar = step * 0.62
    width = max(MIN_CHART_WIDTH, left + right + step * len(history))
    y0 = top + plot_h
    ceiling = nice_ceiling(max(r["passed"] + r["failed"] for r in history))
    parts = _axis(left, y0, plot_h, ceiling, lambda v: f"{v:,.0f}", x1=left + step * len(history))
    for i, r in enumerate(history):
        x = left + step * i + (step - bar) / 2
        severities = r.get("by_severity") or {}
        layers, _ = _stacked_bar(x, y0, bar, plot_h / ceiling, [
            *((int(severities.get(s, 0)), colour, f"review {r['review_id']}: {int(severities.get(s, 0))} {s} failed", "")
              for s, colour in SEVERITY_COLOURS.items()),
            (r["passed"], "#2f855a", f"review {r['review_id']}: {r['passed']} passed", ' fill-opacity="0.35"')])
        parts += layers
        parts.append(_slanted_label(x + bar / 2, y0, when(r["at"])[:10]))
    legend, _ = _legend([*SEVERITY_COLOURS.items(), ("passed", "#2f855a")], left)
    return _svg(width, top + plot_h + bottom, "Compliance reviews week over week", legend + parts)


def _evidence(evidence: dict) -> str:
    return ", ".join(f"{esc(k)} {esc(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v)}"
                     for k, v in evidence.items())


def _review_section(data: dict) -> str:
    """The latest review's findings, the open remediation items, the trend."""
    compliance = data.get("compliance") or {}
    latest, history = compliance.get("latest") or {}, compliance.get("history") or []
    out = ['<section id="compliance"><h2>Compliance review (合规审计) and remediation (整改)</h2>',
           f'<div class="chartbox">{review_chart(history)}</div>']
    review = latest.get("review")
    if review:
        out.append(f'<h3>Review {esc(review["review_id"])} · {esc(review["kind"])} · {esc(when(review["at"]))}</h3>'
                   '<table><thead><tr><th>check</th><th>result</th><th>severity</th><th>evidence (counts)</th>'
                   "</tr></thead><tbody>")
        for f in latest.get("findings") or []:
            result = badge("pass", "ok") if f["passed"] else badge("fail", "bad")
            out.append(f'<tr><td>{esc(f["check"])}</td><td>{result}</td><td>{esc(f["severity"])}</td>'
                       f'<td>{_evidence(f["evidence"])}</td></tr>')
        out.append("</tbody></table>")
    items = latest.get("items") or []
    out.append("<h3>Open remediation items</h3>")
    if not items:
        out.append('<p class="empty">None open.</p>')
    else:
        out.append('<table><thead><tr><th>check</th><th>severity</th><th>owner</th><th>due</th><th>reopened</th>'
                   "</tr></thead><tbody>")
        for i in items:
            due = badge(f'overdue {i["due_on"]}', "bad") if i["overdue"] else esc(i["due_on"])
            out.append(f'<tr><td>{esc(i["check"])}</td><td>{esc(i["severity"])}</td><td>{esc(i["owner"])}</td>'
                       f'<td>{due}</td><td class="n">{num(i["reopened"])}</td></tr>')
        out.append("</tbody></table>")
    out.append("</section>")
    return "".join(out)


def render_review_report(latest: dict, history: list[dict]) -> str:
    """The review as a file for the record: the page's compliance section, standalone."""
    body = _review_section({"compliance": {"latest": latest, "history": history}})
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Handover compliance review</title>'
            f"<style>{CSS}</style></head><body><header><h1>Handover · 合规审计报告 Compliance review</h1></header>"
            f'{body}<p class="muted">Counts only: no customer value is in this report.</p></body></html>')


UPKEEP_KINDS = {"revalidation": "no longer pass today's checks", "expired_document": "identity document expired",
                "merge_candidate": "merge candidates (an ID shared across branches)",
                "bounced_contact": "contact bounced (to correct)"}


UPKEEP_COLOURS = {"revalidation": "#c53030", "expired_document": "#dd6b20", "merge_candidate": "#4a90c2",
                  "bounced_contact": "#718096"}


def _upkeep_section(upkeep: dict, *, items: bool = False, remediation: list[dict] | None = None) -> str:
    """The latest upkeep run: what each kind of finding names (bars), the re-validation's reasons (bars);
    with ``items`` (the report) the records to look at, by key, and the open upkeep remediation items."""
    run = upkeep.get("run")
    out = ['<section id="upkeep"><h2>Data upkeep (维护资料)</h2>']
    if not run:
        out.append('<p class="empty">No upkeep run yet (DAG <code>vault_upkeep</code>).</p></section>')
        return "".join(out)
    counts = run["counts"]
    revalidation = counts.get("revalidation") or {}
    out.append(f'<h3>{esc(run["month"])} · as of {esc(run["today"])} · run {esc(run["run_id"])} · '
               f'{num(revalidation.get("checked"))} records re-checked</h3>')
    out.append('<div class="chartbox">' + segments_chart({UPKEEP_KINDS[k]: n for k, n in run["open"].items()},
                                                         label="Records found per kind") + "</div>")
    reasons = Counter()
    for e in (revalidation.get("entities") or {}).values():
        reasons.update(e.get("reasons") or {})
    if reasons:
        out.append("<h3>Why records no longer pass (column:reason)</h3><div class=\"chartbox\">"
                   + segments_chart(dict(reasons.most_common(20)), label="Re-validation reasons") + "</div>")
    out.append('<table><thead><tr><th>entity</th><th class="n">checked</th><th class="n">no longer pass</th>'
               "<th>reasons</th></tr></thead><tbody>")
    for entity, e in (revalidation.get("entities") or {}).items():
        out.append(f'<tr><td>{esc(entity)}</td><td class="n">{num(e["checked"])}</td>'
                   f'<td class="n">{num(e["failing"])}</td><td>{reasons_text(e["reasons"])}</td></tr>')
    out.append("</tbody></table>")
    facts = {"expired_document": counts.get("expired_document", {}).get("by_type"),
             "merge_candidate": {"groups": counts.get("merge_candidate", {}).get("groups")},
             "bounced_contact": counts.get("bounced_contact", {}).get("by_reason")}
    out.append("<p>" + " · ".join(f"{esc(UPKEEP_KINDS[k])}: {num(run['open'][k])} ({_evidence(v or {})})"
                                   for k, v in facts.items()) + "</p>")
    history = upkeep.get("history") or []
    if len(history) > 1:
        out.append("<h3>Month by month</h3><div class=\"chartbox\">" + trend_chart(
            [{"as_of": h["month"], "segments": h["open"]} for h in history], UPKEEP_COLOURS,
            label="Records found per kind, month by month", empty="", tick=lambda m: m) + "</div>")
        out.append('<table><thead><tr><th>month</th>' + "".join(f'<th class="n">{esc(k)}</th>' for k in UPKEEP_KINDS)
                   + "</tr></thead><tbody>" + "".join(
                       f'<tr><td>{esc(h["month"])}</td>' + "".join(f'<td class="n">{num(h["open"].get(k))}</td>'
                                                                   for k in UPKEEP_KINDS) + "</tr>" for h in history)
                   + "</tbody></table>")
    if items:
        for kind, label in UPKEEP_KINDS.items():
            listed = (upkeep.get("items") or {}).get(kind) or []
            if not listed:
                continue
            shown = f" (the first {len(listed)})" if len(listed) < run["open"][kind] else ""
            out.append(f"<h3>{esc(label)}{shown}</h3><table><thead><tr>"
                       + ("<th>group</th>" if kind == "merge_candidate" else "")
                       + "<th>branch</th><th>entity</th><th>key</th><th>reasons</th></tr></thead><tbody>")
            for i in listed:
                group = f'<td class="n">{esc(i["group"])}</td>' if kind == "merge_candidate" else ""
                out.append(f'<tr>{group}<td>{esc(i["branch_id"])}</td><td>{esc(i["entity"])}</td>'
                           f'<td>{esc(i["key"])}</td><td>{esc(", ".join(i["reasons"]))}</td></tr>')
            out.append("</tbody></table>")
        out.append("<h3>Open remediation items</h3>")
        if not remediation:
            out.append('<p class="empty">None open.</p>')
        else:
            out.append("<table><thead><tr><th>check</th><th>severity</th><th>owner</th><th>due</th></tr></thead><tbody>"
                       + "".join(f'<tr><td>{esc(i["check"])}</td><td>{esc(i["severity"])}</td><td>{esc(i["owner"])}'
                                 f'</td><td>{esc(i["due_on"])}</td></tr>' for i in remediation) + "</tbody></table>")
    out.append("</section>")
    return "".join(out)


def render_upkeep_report(upkeep: dict, remediation: list[dict]) -> str:
    """The upkeep run as a file for the record: the page's upkeep section, with the records by key."""
    body = _upkeep_section(upkeep, items=True, remediation=remediation)
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Handover data upkeep</title>'
            f"<style>{CSS}</style></head><body><header><h1>Handover · 维护资料报告 Data upkeep</h1></header>"
            f'{body}<p class="muted">Counts, record keys and reason codes only: no customer value is in this '
            "report.</p></body></html>")


CSS = """
:root { color-scheme: light dark; --fg: #1a202c; --muted: #718096; --line: #e2e8f0; --bg: #fff; --card: #f7fafc;
        --ok: #2f855a; --bad: #c53030; --warn: #b7791f; --info: #2b6cb0; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e2e8f0; --muted: #a0aec0; --line: #2d3748; --bg: #1a202c; --card: #232b3a; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "PingFang SC",
       "Microsoft YaHei", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 24px; border-bottom: 1px solid var(--line);
         padding-bottom: 8px; }
header h1 { font-size: 20px; margin: 0; }
header .meta { color: var(--muted); font-size: 12px; }
nav a { margin-right: 14px; }
a { color: var(--info); }
h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; white-space: nowrap; }
td.n, th.n { text-align: right; white-space: nowrap; }
code { font-size: 12px; }
.muted, .empty { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; border: 1px solid currentColor;
         white-space: nowrap; }
.badge.ok { color: var(--ok); } .badge.bad { color: var(--bad); } .badge.warn { color: var(--warn); }
.badge.info { color: var(--info); } .badge.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.card b { display: block; font-size: 18px; }
.card span { color: var(--muted); font-size: 12px; }
.chartbox { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px;
            padding: 8px; margin: 8px 0; }
svg.chart { display: block; font: 11px system-ui, sans-serif; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .tick, svg .legend { fill: var(--muted); }
svg .legend { fill: var(--fg); font-size: 12px; }
svg .outline { fill: none; stroke: none; }
svg .outline.dry { stroke: var(--muted); stroke-dasharray: 3 2; }
svg .size { fill: #4a90c2; } svg .size.expired { fill: #a0aec0; }
svg .duration { fill: none; stroke: #d53f8c; stroke-width: 2; }
svg .duration-point { fill: #d53f8c; }
details { margin: 4px 0 10px; }
summary { cursor: pointer; color: var(--info); }
.fp { font-family: ui-monospace, monospace; font-size: 11px; word-break: break-all; }
"""


def render_page(data: dict, *, base: str = URL_PREFIX, user: str | None = None, csrf: str | None = None) -> str:
    """The page; ``csrf``: the session's form token, when the user may act (the objection form is shown)."""
    transfers = data["transfers"]
    sections = [_transfers_section(transfers, base), _backups_section(data["backups"]),
                _restores_section(data["restores"]), _retention_section(data),
                _customers_section(data.get("customers") or {}, base=base, csrf=csrf), _review_section(data),
                _upkeep_section(data.get("upkeep") or {}), _insights_section(data.get("insights") or {}, base)]
    who = f" · signed in as {esc(user)}" if user else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Handover</title><style>{CSS}</style></head>
<body>
<header><h1>Handover · 网点转让</h1>
<span class="meta">target store, schema version {esc(data.get("schema_version") or "—")} · read
{esc(when(data["generated_at"], seconds=True))} (times in UTC+8, Asia/Shanghai){who} ·
<a href="{esc(base)}/api/overview">JSON</a></span></header>
<nav><a href="#transfers">Transfers</a><a href="#backups">Backups</a><a href="#restores">Restores</a>
<a href="#retention">Retention &amp; erasure</a><a href="#customers">Customers told &amp; heard</a>
<a href="#compliance">Compliance</a><a href="#upkeep">Upkeep</a>
<a href="#insights">Insights</a></nav>
{"".join(sections)}
<p class="muted">Only ids of runs, backups and branches, counts, reason codes, dates, sizes, hashes and key
fingerprints are shown here; no customer value is read for this page.</p>
</body></html>"""


def _manifest_cell(t: dict, base: str) -> str:
    m = t["manifest"]
    if m is None:
        return '<span class="muted">none</span>'
    v = m["verification"]
    state = v["state"]
    why = {"valid": "the Ed25519 signature holds over the stored text, with the key stored beside it",
           "invalid": "the stored text, signature, key or fingerprint do not agree: not the manifest that was signed",
           "unsigned": "no signature stored", "missing": "no manifest text stored"}[state]
    trust = ""
    if v["trusted"] is True:
        trust = " " + badge("configured key", "ok", "signed by the signing key this deployment is configured with")
    elif v["trusted"] is False:
        trust = " " + badge("other key", "warn", "signed by a key other than the configured signing key")
    href = f"{base}/manifests/{quote(t['run_id'], safe='')}"
    links = (f'<a href="{esc(href)}">manifest</a> · <a href="{esc(href)}/signature">.sig</a> · '
             f'<a href="{esc(href)}/public-key">key</a>')
    return f"{badge(state, title=why)}{trust}<br>{links}"


def _transfers_section(transfers: list[dict], base: str) -> str:
    out = ['<section id="transfers"><h2>Transfers</h2>']
    if not transfers:
        out.append('<p class="empty">No transfer has run against this store yet.</p></section>')
        return "".join(out)
    latest = transfers[0]
    loaded_now = latest["reconciliation"]["totals"]
    statuses: dict[str, int] = {}
    for t in transfers:
        statuses[t["status"]] = statuses.get(t["status"], 0) + 1
    out.append('<div class="cards">'
               f'<div class="card"><b>{len(transfers)}</b><span>runs shown</span></div>'
               f'<div class="card"><b>{badge(latest["status"])}</b><span>latest: {esc(latest["branch_id"])}, '
               f'{esc(when(latest["started_at"]))}</span></div>'
               f'<div class="card"><b>{num(loaded_now["loaded"])} / {num(loaded_now["source_rows"])}</b>'
               '<span>loaded / source rows, latest run</span></div>'
               f'<div class="card"><b>{" ".join(badge(f"{s} {n}", STATUS_CLASS.get(s)) for s, n in sorted(statuses.items()))}'
               '</b><span>runs by status</span></div></div>')
    out.append('<h3>Dispositions per transfer</h3><div class="chartbox">' + dispositions_chart(transfers) + "</div>")
    out.append('<table><thead><tr><th>run</th><th>branch</th><th>mode</th><th>status</th><th>started</th>'
               '<th class="n">took</th><th class="n">source</th><th class="n">loaded</th><th class="n">quarantined</th>'
               '<th class="n">excluded</th><th class="n">duplicates</th><th>balanced</th><th>validation</th>'
               '<th>manifest</th></tr></thead><tbody>')
    for t in transfers:
        tot = t["reconciliation"]["totals"]
        v = t["validation"]
        balanced = {True: badge("yes", "ok"), False: badge("NO", "bad"), None: '<span class="muted">—</span>'}[
            tot["balanced"]]
        if t["counts_agree"] is False:
            balanced += " " + badge("run ≠ manifest", "bad", "ops.runs.counts differ from the signed manifest's")
        validation = ('<span class="muted">—</span>' if not v["expectations"] else
                      f'{v["expectations"] - v["failed"]}/{v["expectations"]} passed'
                      + (f', {num(v["unexpected"])} values flagged' if v["unexpected"] else ""))
        out.append(f'<tr><td><code>{esc(t["run_id"])}</code></td><td>{esc(t["branch_id"])}</td>'
                   f'<td>{esc(t["mode"])}</td><td>{badge(t["status"])}</td><td>{esc(when(t["started_at"]))}</td>'
                   f'<td class="n">{secs(t["seconds"])}</td><td class="n">{num(tot["source_rows"])}</td>'
                   f'<td class="n">{num(tot["loaded"])}</td><td class="n">{num(tot["quarantined"])}</td>'
                   f'<td class="n">{num(tot["excluded"])}</td><td class="n">{num(tot["duplicates"])}</td>'
                   f'<td>{balanced}</td><td>{validation}</td><td>{_manifest_cell(t, base)}</td></tr>')
    out.append("</tbody></table>")
    for t in transfers:
        out.append(_transfer_details(t))
    out.append("</section>")
    return "".join(out)


def _transfer_details(t: dict) -> str:
    rec = t["reconciliation"]
    if not rec["entities"] and not t["validation"]["entities"]:
        return ""
    source = {"manifest": "from the signed manifest", "run": "from ops.runs (no manifest)"}.get(t["counts_source"], "")
    out = [(f'<details><summary>Reconciliation and validation of <code>{esc(t["run_id"])}</code> '
            f'({esc(t["branch_id"])})</summary>')]
    if rec["entities"]:
        out.append(f'<p class="muted">Counts {esc(source)}. Every source row is loaded, quarantined, excluded or '
                   'collapsed as a duplicate; a row held for several reasons counts under each.</p>'
                   '<table><thead><tr><th>entity</th><th class="n">source</th><th class="n">loaded</th>'
                   '<th class="n">quarantined</th><th>quarantined by reason</th><th class="n">excluded</th>'
                   '<th>excluded by reason</th><th class="n">duplicates</th><th>balanced</th></tr></thead><tbody>')
        for e in rec["entities"]:
            out.append(f'<tr><td>{esc(e["entity"])}</td><td class="n">{num(e["source_rows"])}</td>'
                       f'<td class="n">{num(e["loaded"])}</td><td class="n">{num(e["quarantined"])}</td>'
                       f'<td>{reasons_text(e["quarantined_by_reason"])}</td><td class="n">{num(e["excluded"])}</td>'
                       f'<td>{reasons_text(e["excluded_by_reason"])}</td><td class="n">{num(e["duplicates"])}</td>'
                       f'<td>{badge("yes", "ok") if e["balanced"] else badge("NO", "bad")}</td></tr>')
        out.append("</tbody></table>")
    v = t["validation"]
    if v["entities"]:
        out.append('<h3>Validation (Great Expectations)</h3><table><thead><tr><th>entity</th>'
                   '<th class="n">expectations</th><th class="n">failed</th><th class="n">values flagged</th>'
                   '<th>failing expectations</th></tr></thead><tbody>')
        for e in v["entities"]:
            failures = "<br>".join(
                f'<code>{esc(f["expectation"])}</code> on {esc(", ".join(f["columns"]))} → '
                f'<code>{esc(f["reason"])}</code>: {num(f["unexpected"])} of {num(f["evaluated"])}'
                for f in e["failures"]) or '<span class="muted">none</span>'
            out.append(f'<tr><td>{esc(e["entity"])}</td><td class="n">{num(e["expectations"])}</td>'
                       f'<td class="n">{num(e["failed"])}</td><td class="n">{num(e["unexpected"])}</td>'
                       f'<td>{failures}</td></tr>')
        out.append("</tbody></table>")
    m = t["manifest"]
    if m is not None:
        fp = m["verification"]["signer_fingerprint"]
        out.append(f'<p>Manifest SHA-256 <span class="fp">{esc(m["sha256"])}</span> ({size(m["bytes"])}), signer '
                   f'fingerprint <span class="fp">{esc(fp)}</span>. Check it without Airflow: '
                   f'<code>handover manifest verify {esc(download_name(t["run_id"], ".json"))} --public-key '
                   f'{esc(download_name(t["run_id"], ".pub.pem"))} --fingerprint &lt;the fingerprint the '
                   'transferring party gave you&gt;</code></p>')
    out.append("</details>")
    return "".join(out)


def _check_cell(check: dict | None) -> str:
    if not check:
        return '<span class="muted">—</span>'
    detail = check.get("detail") or {}
    facts = ", ".join(f"{k} {v}" for k, v in detail.items() if k != "error" and not isinstance(v, dict))
    title = f"checked {when(check['checked_at'], seconds=True)} in {secs(check['seconds'])}" + (
        f"; {facts}" if facts else "") + (f"; {detail['error']}" if detail.get("error") else "")
    text = f"{'✓' if check['ok'] else '✗'} {secs(check['seconds'])}"
    cell = badge(text, "ok" if check["ok"] else "bad", title)
    if not check["ok"] and detail.get("error"):
        cell += f'<br><span class="muted">{esc(detail["error"])}</span>'
    return cell


def _backups_section(backups: list[dict]) -> str:
    out = ['<section id="backups"><h2>Backups</h2>']
    if not backups:
        out.append('<p class="empty">No backup of this store is recorded yet.</p></section>')
        return "".join(out)
    live = [b for b in backups if not b["expired_at"]]
    newest = backups[0]
    out.append('<div class="cards">'
               f'<div class="card"><b>{len(live)}</b><span>live backups shown ({len(backups) - len(live)} expired)'
               '</span></div>'
               f'<div class="card"><b>{esc(when(newest["taken_at"]))}</b><span>newest backup</span></div>'
               f'<div class="card"><b>{size(newest["cipher_bytes"])}</b><span>newest, encrypted '
               f'({size(newest["plain_bytes"])} plain)</span></div></div>')
    out.append('<h3>Sizes and durations</h3><div class="chartbox">' + backups_chart(backups) + "</div>")
    out.append('<table><thead><tr><th>backup</th><th>taken</th><th class="n">tables</th><th class="n">rows</th>'
               '<th class="n">plain</th><th class="n">encrypted</th><th class="n">took</th><th>runs</th>'
               '<th>quick</th><th>keys</th><th>full</th><th>drill</th><th>expired</th></tr></thead><tbody>')
    for b in backups:
        expired = (f'{esc(when(b["expired_at"]))}<br><span class="muted">{esc(b["expiry_reason"])}</span>'
                   if b["expired_at"] else '<span class="muted">—</span>')
        runs = len(b["runs"])
        out.append(f'<tr><td><code>{esc(b["backup_id"])}</code><br><span class="muted">{esc(b["destination"])}'
                   f'</span></td><td>{esc(when(b["taken_at"]))}</td><td class="n">{num(b["tables"])}</td>'
                   f'<td class="n">{num(b["rows"])}</td><td class="n">{size(b["plain_bytes"])}</td>'
                   f'<td class="n">{size(b["cipher_bytes"])}</td><td class="n">{secs(b["seconds"])}</td>'
                   f'<td title="{esc(", ".join(b["runs"]))}">{runs}</td>'
                   + "".join(f"<td>{_check_cell(b['checks'].get(kind))}</td>" for kind in ("quick", "keys", "full",
                                                                                        "drill"))
                   + f"<td>{expired}</td></tr>")
    out.append("</tbody></table></section>")
    return "".join(out)


def _restores_section(restores: list[dict]) -> str:
    out = ['<section id="restores"><h2>Restores</h2>']
    if not restores:
        out.append('<p class="empty">No restore is recorded (restore drills run in scratch databases and are '
                   'listed with the backups).</p></section>')
        return "".join(out)
    out.append('<table><thead><tr><th>#</th><th>backup</th><th>into</th><th>tables</th><th>by</th><th>status</th>'
               '<th>started</th><th class="n">took</th><th class="n">rows</th><th>error</th></tr></thead><tbody>')
    for r in restores:
        tables = ", ".join(r["tables"]) if r["tables"] else "all"
        out.append(f'<tr><td>{r["id"]}</td><td><code>{esc(r["backup_id"])}</code></td><td>{esc(r["target"])}'
                   f'{" (overwrite)" if r["overwrite"] else ""}</td><td>{esc(tables)}</td>'
                   f'<td>{esc(r["requested_by"])}</td><td>{badge(r["status"])}</td><td>{esc(when(r["started_at"]))}'
                   f'</td><td class="n">{secs(r["seconds"])}</td><td class="n">{num(r["rows"])}</td>'
                   f'<td>{esc(r["error"] or "")}</td></tr>')
    out.append("</tbody></table></section>")
    return "".join(out)


def _retention_section(data: dict) -> str:
    purges, erasures, holds = data["purges"], data["erasures"], data["legal_holds"]
    out = ['<section id="retention"><h2>Retention purge and erasure requests</h2><h3>Purges</h3>']
    if not purges:
        out.append('<p class="empty">No retention purge has run yet.</p>')
    else:
        out.append('<table><thead><tr><th>#</th><th>as of</th><th>kind</th><th>status</th><th>finished</th>'
                   '<th class="n">deleted</th><th>per class</th><th>held</th></tr></thead><tbody>')
        for p in purges:
            per_class = ", ".join(f"<code>{esc(c)}</code> {num(n)}" for c, n in p["deleted_per_class"].items()) \
                or '<span class="muted">—</span>'
            held = []
            if p["held"]["branches"]:
                held.append("branches " + esc(", ".join(p["held"]["branches"])))
            if p["held"]["customers"]:
                held.append(f'{num(p["held"]["customers"])} customer{"s" if p["held"]["customers"] != 1 else ""}')
            out.append(f'<tr><td>{p["id"]}</td><td>{esc(when(p["today"]))}</td>'
                       f'<td>{badge("dry run", "info") if p["dry_run"] else "purge"}</td><td>{badge(p["status"])}</td>'
                       f'<td>{esc(when(p["finished_at"]))}</td>'
                       f'<td class="n">{num(p["deleted"])}{" (would be)" if p["dry_run"] else ""}</td>'
                       f'<td>{per_class}</td><td>{"; ".join(held) or "—"}</td></tr>')
        out.append("</tbody></table>")
    out.append("<h3>Erasure requests (PIPL Art. 47)</h3>")
    if not erasures["total"]:
        out.append('<p class="empty">No erasure request has been received.</p>')
    else:
        out.append('<div class="cards">' + "".join(
            f'<div class="card"><b>{num(n)}</b><span>{badge(state)}</span></div>'
            for state, n in erasures["by_state"].items()) + "</div>")
        out.append('<table><thead><tr><th>#</th><th>identifier kind</th><th>branch</th><th>basis</th><th>received</th>'
                   '<th>state</th><th>reason</th><th>retry after</th><th>decided</th><th>outcome</th></tr></thead>'
                   '<tbody>')
        for r in erasures["requests"]:
            outcome = ", ".join(
                f"{esc(k)} {num(v)}" if not isinstance(v, dict) else
                f"{esc(k)} {num(sum(v.values()))}" for k, v in r["outcome"].items()) or "—"
            out.append(f'<tr><td>{r["id"]}</td><td>{esc(r["kind"])}</td><td>{esc(r["branch_id"] or "any")}</td>'
                       f'<td>{esc(r["basis"])}</td><td>{esc(when(r["received_at"]))}</td><td>{badge(r["state"])}</td>'
                       f'<td>{esc(r["reason"] or "")}</td><td>{esc(when(r["retry_after"]))}</td>'
                       f'<td>{esc(when(r["decided_at"]))}</td><td>{outcome}</td></tr>')
        out.append("</tbody></table>")
    hold_text = []
    if holds["branches"]:
        hold_text.append("on branches " + esc(", ".join(holds["branches"])))
    if holds["customers"]:
        hold_text.append(f"on {num(holds['customers'])} customer{'s' if holds['customers'] != 1 else ''}")
    out.append(f'<p>Legal holds in force: {"; ".join(hold_text) or "none"}.</p></section>')
    return "".join(out)


def _objection_form(base: str, csrf: str) -> str:
    """The operator's action: an objection or withdrawal, the identifier posted in the body (never a URL)."""
    def options(choices: dict) -> str:
        return "".join(f'<option value="{esc(k)}">{esc(v)}</option>' for k, v in choices.items())

    return (f'<form method="post" action="{esc(base)}/objections" class="action" autocomplete="off">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<label>The customer <select name="kind">{options(ACTION_KINDS)}</select></label> '
            f'<label>named by <select name="id_kind">{options(ID_KINDS)}</select></label> '
            '<label><input name="identifier" type="password" required maxlength="64" autocomplete="off" '
            'placeholder="identifier"></label> '
            '<label>branch <input name="branch_id" maxlength="64" placeholder="(for a customer id)"></label> '
            f'<label>came as <select name="source">{options(ACTION_SOURCES)}</select></label> '
            '<button type="submit">Record and stop processing</button></form>'
            '<p class="muted">Processing stops at once (analytics rows removed, waiting messages cancelled, later '
            "loads leave the customer out) and an erasure request is filed; the identifier is looked up by its "
            "blind index and kept nowhere.</p>")


def _customers_section(data: dict, *, base: str = URL_PREFIX, csrf: str | None = None) -> str:
    """Notices per branch by status; objections and withdrawals by source and their erasure requests; the
    objection form for a user who may act."""
    out = ['<section id="customers"><h2>Customers told and heard (PIPL Art. 15, 17, 22)</h2><h3>Notices</h3>']
    notices = data.get("notices") or {}
    if not notices:
        out.append('<p class="empty">No notice run yet (DAG <code>customer_notice</code>).</p>')
    else:
        out.append('<table><thead><tr><th>branch</th><th class="n">notices</th><th>by status</th></tr></thead><tbody>')
        for branch, by_status in notices.items():
            statuses = ", ".join(f"{badge(s)} {num(n)}" for s, n in by_status.items())
            out.append(f'<tr><td>{esc(branch)}</td><td class="n">{num(sum(by_status.values()))}</td>'
                       f'<td>{statuses}</td></tr>')
        out.append("</tbody></table>")
    heard = data.get("objections") or {}
    out.append("<h3>Objections and withdrawals</h3>")
    if csrf:
        out.append(_objection_form(base, csrf))
    rows = [(kind, heard.get(kind) or {}) for kind in ("objection", "withdrawal")]
    if not any(r for _, r in rows):
        out.append('<p class="empty">None received (<code>handover objection</code>, <code>handover replies</code>).'
                   "</p>")
    else:
        out.append('<table><thead><tr><th>kind</th><th>by source</th><th>erasure requests</th></tr></thead><tbody>')
        for kind, r in rows:
            by_source = ", ".join(f"{esc(k)} {num(v)}" for k, v in (r.get("by_source") or {}).items()) or "—"
            states = ", ".join(f"{badge(k)} {num(v)}" for k, v in (r.get("erasure_requests") or {}).items()) or "—"
            out.append(f"<tr><td>{esc(kind)}</td><td>{by_source}</td><td>{states}</td></tr>")
        out.append("</tbody></table>")
    out.append(f'<p>Marketing opt-outs (退订): {num(heard.get("marketing_optouts", 0))} — offers stop; the notices '
               "the law requires do not.</p>")
    out.append(_updates_part(data.get("updates") or {}))
    out.append("</section>")
    return "".join(out)


def _updates_part(updates: dict) -> str:
    """Contact updates (更新信息): change files by status, their rows by disposition, earlier versions kept,
    the confirmations of changed contacts by status (counts only)."""
    out = ["<h3>Contact updates (更新信息)</h3>"]
    if not updates.get("runs"):
        out.append('<p class="empty">No change file applied yet (DAG <code>customer_updates</code>).</p>')
        return "".join(out)
    runs = ", ".join(f"{badge(s)} {num(n)}" for s, n in updates["runs"].items())
    rows = ", ".join(f"{esc(d)} {num(n)}" for d, n in (updates.get("rows") or {}).items()) or "—"
    told = ", ".join(f"{badge(s)} {num(n)}" for s, n in (updates.get("confirmations") or {}).items()) or "—"
    out.append(f"<p>Change files: {runs}. Rows: {rows}. Earlier versions kept: "
               f'{num(updates.get("earlier_versions", 0))} of {num(updates.get("customers_with_history", 0))} '
               f"customers. Confirmations to the old and the new contact: {told}.</p>")
    return "".join(out)


INSIGHT_TITLES = {"activity": "Activity classes", "rfm_segment": "RFM segments", "product": "Product holdings",
                  "channel": "Channel use"}


def _insights_section(data: dict, base: str) -> str:
    """The latest insight run's segment sizes per branch (charts), the activity trend, the CSV download."""
    out = ['<section id="insights"><h2>Customer insights (pseudonymised tier, counts of customers)</h2>']
    run = data.get("run")
    if not run:
        out.append('<p class="empty">No insight run yet (DAG <code>customer_insights</code>).</p></section>')
        return "".join(out)
    out.append(f'<p>As of {esc(run["as_of"])}: {num(run["customers"])} customers, {num(run["cells"])} cells over '
               f'{num(run["regions"])} branch regions; cells under k = {num(run["min_k"])} and those that would give '
               f'one away suppressed ({num(run["suppressed"])}). <a href="{esc(base)}/insights.csv">Download the '
               f'aggregates (CSV)</a>.</p>')
    for dimension, title in INSIGHT_TITLES.items():
        for branch, sizes in (data.get("sizes") or {}).get(dimension, {}).items():
            out.append(f"<h3>{esc(title)} · {esc(branch)}</h3>"
                       + segments_chart(sizes, label=f"{title} of branch {branch}"))
    out.append("<h3>Activity over time (all branches)</h3>" + activity_trend_chart(data.get("trend") or []))
    out.append("</section>")
    return "".join(out)


def render_unavailable(message: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Handover: store unavailable</title>'
            f'<style>{CSS}</style></head><body><header><h1>Handover · 网点转让</h1></header>'
            f'<h2>The target store is unavailable</h2><p>{esc(message)}</p><p class="muted">HTTP 503. Check the '
            "connection <code>handover_target</code> and the server; the API server's log has the details."
            "</p></body></html>")


def render_forbidden() -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Handover: not allowed</title>'
            f'<style>{CSS}</style></head><body><header><h1>Handover · 网点转让</h1></header>'
            f"<p>You are signed in, but your Airflow role does not grant the <b>{esc(VIEW)}</b> view. An "
            "administrator can grant it (with FAB: read on the resource <code>Handover</code>).</p>"
            "<p class=\"muted\">HTTP 403.</p></body></html>")


def render_signin(request, status: int) -> str:
    login = None
    try:
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=request.url.path)
    except Exception as exc:  # noqa: BLE001 — no login link is better than no page
        log.debug("handover page: no login URL (%s)", type(exc).__name__)
    what = "Sign in to Airflow to see this page." if status == 401 else "Your Airflow session is not valid."
    link = f' <a href="{esc(login)}">Sign in</a>' if login else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Handover: sign in</title>'
            f'<style>{CSS}</style></head><body><header><h1>Handover · 网点转让</h1></header>'
            f"<p>{esc(what)}{link}</p></body></html>")
