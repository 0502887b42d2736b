"""The web inbox of the local server: ``/`` and ``/_inbox`` (aiohttp routes).

Like Mailpit, for Pulse: every message of both APIs, newest first, live; a
page per message; users and threads; the ledger; webhook deliveries; and
controls for faults, the clock and keys. Open ``http://127.0.0.1:<port>/``
of ``pulse serve`` or ``pulse demo --serve``.

Security model (the server listens on loopback; message content is untrusted):

- **Viewing needs no key**, as in Mailpit. To keep other web pages out, every
  inbox request must carry a ``Host`` that is an IP address, ``localhost`` or
  the host the server was bound to (a DNS-rebinding page's name is refused),
  and pages forbid framing.
- **Pages** are server-rendered with every value escaped, and served with a
  ``Content-Security-Policy`` that allows only this origin's own script and
  stylesheet: no inline script, no fetch to any other origin.
- **HTML email** is served alone at ``/_inbox/messages/{id}/html`` with
  ``Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';
  img-src data:; …; sandbox`` and shown in an ``<iframe sandbox>`` (no
  ``allow-scripts``, no ``allow-same-origin``): its scripts never run and it
  fetches nothing (no remote image, font or stylesheet: CSS exfiltration has
  nowhere to go).
- **Controls** (``POST /_inbox/api/…``) change nothing unless the request
  carries the admin key (``Authorization: Bearer …``, asked once by the page
  and kept in the tab's ``sessionStorage``), the page's anti-forgery token
  (``X-Pulse-Inbox-Token``, random per server), a JSON body, and, when the
  browser sends them, an ``Origin`` equal to the server's own and
  ``Sec-Fetch-Site: same-origin``. A page on another origin can send none of
  these together.

Inbox requests are not counted in ``stats.requests`` and never get faults.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from pulse_async.testing._faults import FAULT_KINDS, parse_fault_spec
from pulse_async.testing._inbox_model import Envelopes, MessageView, message_view, messages
from pulse_async.testing._inbox_pages import (
    PageContext,
    controls_page,
    ledger_page,
    message_page,
    messages_page,
    not_found_page,
    users_page,
    webhooks_page,
)
from pulse_async.testing._state import ApiFailure

if TYPE_CHECKING:
    from pulse_async.testing._server import PulseServer

__all__ = ["PAGE_CSP", "UNTRUSTED_HTML_CSP", "add_inbox_routes"]

#: The policy of every inbox page: this origin's script and stylesheet, nothing else.
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
#: The policy of an HTML email: inline styles and data: images only, in a sandbox.
UNTRUSTED_HTML_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; sandbox"
)
_COMMON_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_PAGE_HEADERS: Final = {
    **_COMMON_HEADERS,
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_MAX_SHOWN: Final = 200
_TOKEN_HEADER: Final = "X-Pulse-Inbox-Token"
_STATIC: Final = {"inbox.css": "text/css", "inbox.js": "text/javascript"}
_SECRET_WORDS: Final = ("secret", "key", "password", "token")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _static_files() -> dict[str, bytes]:
    folder = resources.files("pulse_async.testing") / "_inbox_static"
    return {name: (folder / name).read_bytes() for name in _STATIC}


def host_allowed(host_header: str | None, bound_host: str) -> bool:
    """Whether a ``Host`` header names this server: an IP, ``localhost`` or the bound host."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host, bracket, _ = host[1:].partition("]")
        if not bracket:
            return False
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host in ("localhost", bound_host.lower()):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _deliveries(server: PulseServer) -> list[dict[str, Any]] | None:
    """``server.webhooks.deliveries`` as dicts (secrets left out), or None without webhooks."""
    webhooks = getattr(server, "webhooks", None)
    found = getattr(webhooks, "deliveries", None) if webhooks is not None else None
    if found is None:
        return None
    rows = []
    for record in list(found):
        if attrs.has(type(record)):
            row = attrs.asdict(record, recurse=False)
        elif isinstance(record, Mapping):
            row = dict(record)
        else:
            row = dict(vars(record))
        rows.append(
            {
                k: v
                for k, v in row.items()
                if not k.startswith("_") and not any(w in k.lower() for w in _SECRET_WORDS)
            }
        )
    return rows


def add_inbox_routes(app: web.Application, server: PulseServer, envelopes: Envelopes) -> None:
    """Register the inbox's pages and controls of ``server`` on ``app``."""
    state = server.state
    token = secrets.token_urlsafe(24)
    static = _static_files()

    def context() -> PageContext:
        return PageContext(now=state.clock.time(), frozen=state.clock.frozen, token=token)

    def page(body: str, status: int = 200) -> web.Response:
        return web.Response(
            status=status,
            text=body,
            content_type="text/html",
            charset="utf-8",
            headers=_PAGE_HEADERS,
        )

    def guarded(handler: _Handler) -> _Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            if not host_allowed(request.headers.get("Host"), server.host):
                return web.Response(
                    status=421,
                    text="this server answers only to its own address\n",
                    headers=_COMMON_HEADERS,
                )
            return await handler(request)

        return run

    async def list_messages(request: web.Request) -> web.StreamResponse:
        filters = {k: request.query.get(k, "").strip() for k in ("q", "to", "status", "channel")}
        terms = filters["q"].split()
        total = len(state.messages)
        shown: list[MessageView] = []
        matched = 0
        for view in messages(server, envelopes):
            if view.matches(
                terms=terms,
                recipient=filters["to"],
                status=filters["status"],
                channel=filters["channel"],
            ):
                matched += 1
                if len(shown) < _MAX_SHOWN:
                    shown.append(view)
        return page(messages_page(context(), shown, matched=matched, total=total, filters=filters))

    async def show_message(request: web.Request) -> web.StreamResponse:
        view = message_view(server, envelopes, request.match_info["id"])
        if view is None:
            return page(not_found_page(context(), "There is no message with this id."), 404)
        mine = [d for d in _deliveries(server) or () if d.get("message_id") == view.id]
        return page(message_page(context(), view, mine))

    async def message_html(request: web.Request) -> web.StreamResponse:
        message = state.messages.get(request.match_info["id"])
        if message is None or message.html is None:
            return web.Response(status=404, text="no HTML body\n", headers=_COMMON_HEADERS)
        return web.Response(
            text=message.html,
            content_type="text/html",
            charset="utf-8",
            headers={**_COMMON_HEADERS, "Content-Security-Policy": UNTRUSTED_HTML_CSP},
        )

    async def users(request: web.Request) -> web.StreamResponse:
        now = state.clock.time()
        threads = sorted(state.threads.values(), key=lambda t: t.activity, reverse=True)
        unread: dict[str, int] = {}
        for thread in threads:
            for uid, n in thread.unread.items():
                unread[uid] = unread.get(uid, 0) + n

        def who(uid: str) -> str:
            user = state.users.get(uid)
            return user.email if user is not None else uid

        user_rows = [
            {
                "id": u.id,
                "email": u.email,
                "name": u.name,
                "role": u.role,
                "status": u.status_at(now),
                "unread": unread.get(u.id, 0),
            }
            for u in reversed(list(state.users.values()))
        ]
        thread_rows = [
            {
                "id": t.id,
                "subject": t.subject,
                "messages": len(t.message_ids),
                "last_message_at": t.last_message_at,
                "unread": [(who(uid), n) for uid, n in t.unread.items()],
            }
            for t in threads
        ]
        return page(users_page(context(), user_rows, thread_rows))

    async def ledger(request: web.Request) -> web.StreamResponse:
        entries = [attrs.asdict(e) for e in reversed(list(server.ledger))]
        return page(ledger_page(context(), entries, set(state.messages)))

    async def webhooks(request: web.Request) -> web.StreamResponse:
        return page(webhooks_page(context(), _deliveries(server)))

    async def controls(request: web.Request) -> web.StreamResponse:
        rules = [r.as_dict() for r in server.faults.rules]
        return page(controls_page(context(), rules, sorted(FAULT_KINDS)))

    async def static_file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in static:
            return web.Response(status=404, text="not found\n", headers=_COMMON_HEADERS)
        return web.Response(
            body=static[name],
            content_type=_STATIC[name],
            charset="utf-8",
            headers={**_COMMON_HEADERS, "Cache-Control": "no-cache"},
        )

    # -- controls ------------------------------------------------------------------------------

    def refuse(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"error": {"code": code, "message": message}}, status=status, headers=_COMMON_HEADERS
        )

    def control(action: Callable[[dict[str, Any]], Any]) -> _Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return refuse(403, "forbidden", "cross-origin control requests are refused")
            site = request.headers.get("Sec-Fetch-Site")
            if site is not None and site != "same-origin":
                return refuse(403, "forbidden", "cross-site control requests are refused")
            sent = request.headers.get(_TOKEN_HEADER, "")
            if not hmac.compare_digest(sent.encode(), token.encode()):
                return refuse(403, "forbidden", "missing or wrong inbox token: reload the page")
            if request.content_type != "application/json":
                return refuse(415, "unsupported_media_type", "send a JSON body")
            try:
                key = state.authenticate(request.headers.get("Authorization"))
                state.authorize(key, "admin")
            except ApiFailure as exc:
                return refuse(exc.status, exc.code, exc.message)
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                return refuse(400, "validation_failed", "the body is not valid JSON")
            if not isinstance(body, dict):
                return refuse(400, "validation_failed", "the body must be a JSON object")
            try:
                result = action(body)
            except KeyError as exc:
                return refuse(400, "validation_failed", f"{exc.args[0]} is required")
            except (ValueError, TypeError) as exc:
                return refuse(400, "validation_failed", str(exc))
            return web.json_response(result, headers=_COMMON_HEADERS)

        return run

    def clock_json() -> dict[str, Any]:
        return {"now": state.clock.now().isoformat(), "frozen": state.clock.frozen}

    def advance(body: dict[str, Any]) -> Any:
        server.advance(_number(body["seconds"], "seconds"))
        return {**clock_json(), "message": f"The clock moved on {body['seconds']} s."}

    def set_clock(body: dict[str, Any]) -> Any:
        frozen = body["frozen"]
        if frozen in (True, "true"):
            state.clock.freeze()
        elif frozen in (False, "false"):
            state.clock.resume()
        else:
            raise ValueError("frozen must be true or false")
        return {
            **clock_json(),
            "message": "The clock is " + ("frozen." if state.clock.frozen else "running."),
        }

    def add_fault(body: dict[str, Any]) -> Any:
        if "spec" in body:
            kwargs = parse_fault_spec(str(body["spec"]))
        else:
            kwargs = {"kind": str(body["kind"]), "route": str(body.get("route") or "*")}
            if body.get("count") not in (None, ""):
                kwargs["count"] = int(body["count"])
            if body.get("probability") not in (None, ""):
                kwargs["probability"] = _number(body["probability"], "probability")
        kind = kwargs.pop("kind")
        rule = server.faults.add(kind, **kwargs)
        return {"rule": rule.as_dict(), "message": f"Added {rule.kind} on {rule.route}."}

    def clear_faults(_body: dict[str, Any]) -> Any:
        server.faults.clear()
        return {"rules": [], "message": "Every fault rule was removed."}

    def create_key(body: dict[str, Any]) -> Any:
        rate: Any = body.get("rate_limit", "default") or "default"
        if isinstance(rate, str) and rate.strip().isdigit():
            rate = int(rate)
        role = str(body.get("role", "editor"))
        new_key = state.create_key(role=role, rate_limit=rate)
        return {"key": new_key, "role": role, "message": f"New {role} key: {new_key}"}

    get_routes: list[tuple[str, _Handler]] = [
        ("/", list_messages),
        ("/_inbox", list_messages),
        ("/_inbox/", list_messages),
        ("/_inbox/messages/{id}", show_message),
        ("/_inbox/messages/{id}/html", message_html),
        ("/_inbox/users", users),
        ("/_inbox/ledger", ledger),
        ("/_inbox/webhooks", webhooks),
        ("/_inbox/controls", controls),
        ("/_inbox/static/{name}", static_file),
    ]
    for path, handler in get_routes:
        app.router.add_route("GET", path, guarded(handler))
    post_routes: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("/_inbox/api/advance", advance),
        ("/_inbox/api/clock", set_clock),
        ("/_inbox/api/faults", add_fault),
        ("/_inbox/api/faults/clear", clear_faults),
        ("/_inbox/api/keys", create_key),
    ]
    for path, action in post_routes:
        app.router.add_route("POST", path, guarded(control(action)))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
