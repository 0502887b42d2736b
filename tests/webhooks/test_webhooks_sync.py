"""``pulse_sync.webhooks``: the Django/Flask path, blocking, from many threads at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from webhook_helpers import SECRET, event_body

import pulse_async.webhooks
import pulse_sync.webhooks
from pulse_sync.webhooks import MemoryStore, Webhook, WebhookEvent, handle


def test_the_sync_module_mirrors_the_async_one() -> None:
    for name in pulse_sync.webhooks.__all__:
        if name != "handle":
            assert getattr(pulse_sync.webhooks, name) is getattr(pulse_async.webhooks, name)
    assert pulse_sync.webhooks.__all__ == sorted(pulse_sync.webhooks.__all__, key=_ruff_order)
    assert pulse_async.webhooks.__all__ == sorted(pulse_async.webhooks.__all__, key=_ruff_order)
    for name in pulse_async.webhooks.__all__:
        assert getattr(pulse_async.webhooks, name) is not None


def _ruff_order(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_blocking_handle_from_many_threads_runs_the_handler_once() -> None:
    webhook, store = Webhook(SECRET), MemoryStore()
    calls: list[str] = []
    gate = threading.Event()

    def on_event(event: WebhookEvent) -> None:  # a plain function, as in a Flask view
        gate.wait(5)
        calls.append(event.id)

    body = event_body("evt_sync")
    headers = webhook.sign(body, webhook_id="evt_sync")

    def view() -> int:
        return handle(webhook, body, headers, on_event, store=store).status

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(view) for _ in range(8)]
        gate.set()
        statuses = sorted(f.result() for f in futures)
    assert calls == ["evt_sync"]
    assert 200 in statuses
    assert set(statuses) <= {200, 409}
    assert handle(webhook, body, headers, on_event, store=store).reason == "duplicate"


def test_a_stdlib_receiver_fed_by_a_threaded_server() -> None:
    """The Flask/Django shape without a framework: ``http.server`` + ``pulse_sync.webhooks``."""
    import http.server

    from pulse_async.testing import PulseServer
    from pulse_sync import Pulsewave

    statuses: dict[str, list[str]] = {}
    holder: list[Webhook] = []
    store = MemoryStore()

    def on_event(event: WebhookEvent) -> None:
        assert event.data is not None
        statuses.setdefault(event.data.id, []).append(event.data.status)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            outcome = handle(holder[0], body, self.headers.items(), on_event, store=store)
            self.send_response(outcome.status)
            self.send_header("Content-Length", str(len(outcome.body)))
            self.end_headers()
            self.wfile.write(outcome.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with PulseServer(frozen_clock=True).start_in_thread() as server:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/"
            holder.append(Webhook(server.add_webhook(url)))
            with Pulsewave(server.admin_key, base_url=server.v1_url) as pw:
                message = pw.messages.create(channel="push", to="dev-1", from_="app", text="x")
            server.advance(1)
            server.drain_webhooks()
            assert sorted(statuses[message.id]) == sorted(
                ["queued", "sending", "sent", "delivered"]
            )
            assert {d.result for d in server.webhooks.deliveries} == {"delivered"}
    finally:
        httpd.shutdown()
        httpd.server_close()
