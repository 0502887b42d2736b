"""``/_admin``: control the local server over HTTP (for the CLI, curl, other processes).

Every admin route needs an admin-role key (``Authorization: Bearer …``), is
never rate-limited, never gets injected faults and is not counted in
``stats.requests``. Bodies are JSON objects:

=========================  ===========================================================
``POST /_admin/advance``   ``{"seconds": 5}`` → ``{"now": "…", "frozen": bool}``
``POST /_admin/clock``     ``{"frozen": true}`` freezes, ``false`` resumes → same
``GET /_admin/faults``     ``{"seed": …, "rules": [...]}``
``POST /_admin/faults``    ``{"kind": "latency", "route": "GET /v2/users", "delay": 2}``
                           (the keyword arguments of ``Faults.add``) or
                           ``{"spec": "POST /v2/messages=reset_after_commit:count=1"}``
``DELETE /_admin/faults``  remove every rule
``GET /_admin/stats``      ``Stats.as_dict()``
``GET /_admin/ledger``     ``{"data": [entry…]}``
``POST /_admin/keys``      ``{"role": "editor", "rate_limit": 6000}`` → ``{"key": "pw_test_…"}``
``POST /_admin/outcomes``  ``{"address": "a@example.com", "outcome": "bounced"}``
``POST /_admin/domains``   ``{"domain": "example.net"}``
``POST /_admin/templates`` ``{"id": "tmpl_x", "subject": "…", "text": "…", "html": "…"}``
``POST /_admin/webhooks``  ``{"url": "http://127.0.0.1:9000/hook", "events": [...]}``
                           (``events`` optional) → ``{"url": …, "secret": "whsec_…"}``
``GET /_admin/webhooks``   ``{"data": [{"url", "events", "secrets"}…]}`` (a count of
                           secrets, never the secrets)
``POST /_admin/webhooks/rotate``  ``{"url": …, "overlap": 86400}`` → ``{"url", "secret"}``
``GET /_admin/webhooks/deliveries``  ``{"data": [delivery…]}`` (the delivery log)
``GET|POST /_admin/webhooks/faults``  ``{"duplicate": 0.5, "reorder": true, …}`` → the knobs
=========================  ===========================================================

Bad input answers ``400 validation_failed`` with the usual envelope.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pulse_async.testing._faults import parse_fault_spec
from pulse_async.testing._state import ApiFailure

if TYPE_CHECKING:
    from pulse_async.testing._server import PulseServer

__all__ = ["add_admin_routes"]

_AdminFn = Callable[[Any], Any]


def add_admin_routes(app: web.Application, server: PulseServer) -> None:
    """Register the ``/_admin`` routes of ``server`` on ``app``."""
    state = server.state

    def clock_json() -> dict[str, Any]:
        from pulse_async._core._converter import format_datetime

        return {"now": format_datetime(state.clock.now()), "frozen": state.clock.frozen}

    def advance(body: Any) -> Any:
        state.clock.advance(body["seconds"])
        server.webhooks.wake()
        return clock_json()

    def set_clock(body: Any) -> Any:
        if body["frozen"]:
            state.clock.freeze()
        else:
            state.clock.resume()
        return clock_json()

    def list_faults(_body: Any) -> Any:
        return {"seed": server.faults.seed, "rules": [r.as_dict() for r in server.faults.rules]}

    def add_fault(body: Any) -> Any:
        kwargs = parse_fault_spec(body["spec"]) if "spec" in body else dict(body)
        kind = kwargs.pop("kind")
        return server.faults.add(kind, **kwargs).as_dict()

    def clear_faults(_body: Any) -> Any:
        server.faults.clear()
        return {"rules": []}

    def create_key(body: Any) -> Any:
        return {
            "key": state.create_key(
                role=body.get("role", "admin"), rate_limit=body.get("rate_limit", "default")
            )
        }

    def set_outcome(body: Any) -> Any:
        state.set_outcome(body["address"], body["outcome"])
        return {"address": body["address"], "outcome": body["outcome"]}

    def verify_domain(body: Any) -> Any:
        state.verify_domain(body["domain"])
        return {"domains": sorted(state.verified_domains)}

    def register_template(body: Any) -> Any:
        t = state.register_template(
            body["id"], subject=body.get("subject"), text=body.get("text"), html=body.get("html")
        )
        return {"id": t.id, "subject": t.subject, "text": t.text, "html": t.html}

    def add_webhook(body: Any) -> Any:
        url = body["url"]
        return {"url": url, "secret": server.webhooks.add(url, events=body.get("events"))}

    def list_webhooks(_body: Any) -> Any:
        return {
            "data": [
                {
                    "url": e.url,
                    "events": sorted(e.events) if e.events is not None else None,
                    "secrets": len(e.signing_secrets(state.clock.time())),
                }
                for e in server.webhooks.endpoints.values()
            ]
        }

    def rotate_webhook(body: Any) -> Any:
        url = body["url"]
        overlap = body.get("overlap", 24 * 3600)
        return {"url": url, "secret": server.webhooks.rotate(url, overlap=overlap)}

    def webhook_faults(body: Any) -> Any:
        return server.webhooks.faults.set(**(body or {})).as_dict()

    routes: list[tuple[str, str, _AdminFn]] = [
        ("POST", "/_admin/advance", advance),
        ("POST", "/_admin/clock", set_clock),
        ("GET", "/_admin/faults", list_faults),
        ("POST", "/_admin/faults", add_fault),
        ("DELETE", "/_admin/faults", clear_faults),
        ("GET", "/_admin/stats", lambda _b: server.stats.as_dict()),
        ("GET", "/_admin/ledger", lambda _b: {"data": [e.as_dict() for e in server.ledger]}),
        ("POST", "/_admin/keys", create_key),
        ("POST", "/_admin/outcomes", set_outcome),
        ("POST", "/_admin/domains", verify_domain),
        ("POST", "/_admin/templates", register_template),
        ("POST", "/_admin/webhooks", add_webhook),
        ("GET", "/_admin/webhooks", list_webhooks),
        ("POST", "/_admin/webhooks/rotate", rotate_webhook),
        (
            "GET",
            "/_admin/webhooks/deliveries",
            lambda _b: {"data": [d.as_dict() for d in server.webhooks.deliveries]},
        ),
        ("GET", "/_admin/webhooks/faults", webhook_faults),
        ("POST", "/_admin/webhooks/faults", webhook_faults),
    ]
    for method, path, fn in routes:
        app.router.add_route(method, path, _wrap(server, fn))


def _wrap(
    server: PulseServer, fn: _AdminFn
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        rid = server.next_request_id()
        try:
            key = server.state.authenticate(request.headers.get("Authorization"))
            server.state.authorize(key, "admin")
            body: Any = None
            if request.method == "POST":
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError:
                    raise ApiFailure(400, "validation_failed", "body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise ApiFailure(400, "validation_failed", "body must be a JSON object")
            try:
                result = fn(body)
            except KeyError as exc:
                raise ApiFailure(
                    400, "validation_failed", f"{exc.args[0]} is required", str(exc.args[0])
                ) from None
            except (ValueError, TypeError) as exc:
                raise ApiFailure(400, "validation_failed", str(exc)) from None
            return web.json_response(result, headers={"X-Request-Id": rid})
        except ApiFailure as exc:
            return web.json_response(
                exc.envelope(rid), status=exc.status, headers={"X-Request-Id": rid}
            )

    return handler
