"""The inbox over raw HTTP: its guards, headers and what it records, without a browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async.testing import PulseServer
from pulse_async.testing._inbox import PAGE_CSP, UNTRUSTED_HTML_CSP, _deliveries, host_allowed
from pulse_async.testing._inbox_markdown import render_markdown
from pulse_async.testing._inbox_pages import PageContext, webhooks_page


@pytest.fixture
async def live_server() -> AsyncIterator[PulseServer]:
    async with PulseServer(frozen_clock=True, seed=3) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _token(http: aiohttp.ClientSession, server: PulseServer) -> str:
    async with http.get(server.url + "/_inbox/controls") as response:
        page = await response.text()
    match = re.search(r'<meta name="pulse-inbox-token" content="([^"]+)">', page)
    assert match is not None
    return match.group(1)


async def test_pages_answer_on_loopback_with_a_strict_policy(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    before = live_server.stats.total
    for path in ("/", "/_inbox", "/_inbox/users", "/_inbox/ledger", "/_inbox/controls"):
        async with http.get(live_server.url + path) as response:
            assert response.status == 200, path
            assert response.content_type == "text/html"
            assert response.headers["Content-Security-Policy"] == PAGE_CSP
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(live_server.url + "/_inbox/messages/msg_nope") as response:
        assert response.status == 404
        assert "There is no message with this id." in await response.text()
    assert live_server.stats.total == before  # inbox requests are not API requests


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "pulse.attacker.test"])
async def test_a_rebound_dns_name_is_refused(
    live_server: PulseServer, http: aiohttp.ClientSession, host: str
) -> None:
    async with http.get(live_server.url + "/", headers={"Host": host}) as response:
        assert response.status == 421
        assert "Pulse" not in await response.text()


def test_host_names_the_inbox_accepts() -> None:
    for good in ("127.0.0.1:8080", "localhost:1", "LOCALHOST", "[::1]:80", "10.1.2.3", "box:9"):
        assert host_allowed(good, "box"), good
    for bad in (None, "", "evil.example", "localhost.evil.example:80", "[::1"):
        assert not host_allowed(bad, "127.0.0.1"), bad


async def test_html_email_is_served_alone_under_a_policy_that_blocks_everything(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    async with AsyncPulsewave(live_server.admin_key, base_url=live_server.v1_url) as pw:
        email = await pw.messages.create(
            channel="email",
            to="a@example.com",
            from_="x@example.com",
            subject="s",
            html="<script>alert(1)</script>",
        )
        sms = await pw.messages.create(channel="sms", to="+14155550123", from_="P", text="t")
    async with http.get(f"{live_server.url}/_inbox/messages/{email.id}/html") as response:
        assert response.status == 200
        assert response.headers["Content-Security-Policy"] == UNTRUSTED_HTML_CSP
        assert "sandbox" in UNTRUSTED_HTML_CSP.split("; ")
        assert "default-src 'none'" in UNTRUSTED_HTML_CSP
        assert await response.text() == "<script>alert(1)</script>"
    async with http.get(f"{live_server.url}/_inbox/messages/{sms.id}/html") as response:
        assert response.status == 404
    async with http.get(f"{live_server.url}/_inbox/messages/{email.id}") as response:
        page = await response.text()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the source, escaped
    assert re.search(r"<iframe sandbox class=\"html-body\"", page)


async def test_a_control_needs_key_token_json_and_the_same_origin(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    url = live_server.url + "/_inbox/api/faults"
    token = await _token(http, live_server)
    good = {
        "Authorization": f"Bearer {live_server.admin_key}",
        "X-Pulse-Inbox-Token": token,
        "Origin": live_server.url,
        "Sec-Fetch-Site": "same-origin",
    }
    refused: list[tuple[dict[str, str], int]] = [
        ({"X-Pulse-Inbox-Token": ""}, 403),
        ({"X-Pulse-Inbox-Token": token[:-1] + "x"}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Authorization": ""}, 401),
        ({"Authorization": "Bearer pw_test_notarealkey000"}, 401),
        ({"Authorization": f"Bearer {live_server.editor_key}"}, 403),
        ({"Authorization": f"Bearer {live_server.viewer_key}"}, 403),
    ]
    for change, status in refused:
        headers = {**good, **change}
        async with http.post(url, json={"kind": "server_error"}, headers=headers) as response:
            assert response.status == status, change
    async with http.post(url, data="kind=server_error", headers=good) as response:
        assert response.status == 415  # a form post, not JSON
    assert live_server.faults.rules == []

    async with http.post(url, json={"kind": "nope"}, headers=good) as response:
        assert response.status == 400
        assert "unknown fault kind" in (await response.json())["error"]["message"]
    async with http.post(url, json={"spec": "GET /v2/users=latency:delay=2"}, headers=good) as r:
        assert r.status == 200
    without_browser_headers = {k: v for k, v in good.items() if not k.startswith(("Or", "Sec"))}
    async with http.post(
        url, json={"kind": "server_error", "count": 2}, headers=without_browser_headers
    ) as response:
        assert response.status == 200  # curl with the key and token is fine
    assert [(r.kind, r.route, r.remaining) for r in live_server.faults.rules] == [
        ("latency", "GET /v2/users", None),
        ("server_error", "*", 2),
    ]
    async with http.post(url + "/clear", json={}, headers=good) as response:
        assert response.status == 200
    assert live_server.faults.rules == []


async def test_clock_and_key_controls(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    token = await _token(http, live_server)
    headers = {"Authorization": f"Bearer {live_server.admin_key}", "X-Pulse-Inbox-Token": token}
    before = live_server.clock.time()
    async with http.post(
        live_server.url + "/_inbox/api/advance", json={"seconds": 5}, headers=headers
    ) as response:
        assert response.status == 200
    assert live_server.clock.time() == before + 5
    for bad in ({"seconds": -1}, {"seconds": "x"}, {"seconds": True}, {}):
        async with http.post(
            live_server.url + "/_inbox/api/advance", json=bad, headers=headers
        ) as response:
            assert response.status == 400, bad
    assert live_server.clock.time() == before + 5
    async with http.post(
        live_server.url + "/_inbox/api/clock", json={"frozen": "false"}, headers=headers
    ) as response:
        assert (await response.json())["frozen"] is False
    assert not live_server.clock.frozen
    async with http.post(
        live_server.url + "/_inbox/api/keys",
        json={"role": "viewer", "rate_limit": "6000"},
        headers=headers,
    ) as response:
        key = (await response.json())["key"]
    async with AsyncPulse(key, base_url=live_server.v2_url) as pulse:
        assert [u async for u in pulse.users.list(limit=1)]
    async with http.post(
        live_server.url + "/_inbox/api/keys", json={"role": "root"}, headers=headers
    ) as response:
        assert response.status == 400


async def test_the_envelope_of_each_send_is_recorded_once(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    async with AsyncPulse(live_server.editor_key, base_url=live_server.v2_url) as pulse:
        receipt = await pulse.messages.send(
            to=["ada@example.com", "admin@example.com"],
            subject="s",
            body="b",
            idempotency_key="k-1",
        )
        again = await pulse.messages.send(
            to=["ada@example.com", "admin@example.com"],
            subject="s",
            body="b",
            idempotency_key="k-1",
        )
    assert again.message_id == receipt.message_id  # a replay: no second message
    envelope = live_server._envelopes.get(receipt.message_id)
    assert envelope is not None
    assert envelope.sender == "editor@example.com"
    assert envelope.to == ("ada@example.com", "admin@example.com")
    assert envelope.idempotency_key == "k-1"
    assert envelope.request_id is not None
    async with AsyncPulsewave(live_server.admin_key, base_url=live_server.v1_url) as pw:
        templated = await pw.messages.create(
            channel="email",
            to="a@example.com",
            from_="x@example.com",
            template_id="tmpl_welcome",
            template_data={"name": "Ada", "product": "Pulse"},
        )
    async with http.get(f"{live_server.url}/_inbox/messages/{templated.id}") as response:
        page = await response.text()
    assert "tmpl_welcome" in page
    assert "&quot;name&quot;: &quot;Ada&quot;" in page
    async with http.get(live_server.url + "/_inbox?q=k-1") as response:
        listing = await response.text()
    assert "1 of 2 messages" in listing
    assert receipt.message_id in listing


_ALLOWED_TAGS = {
    "p",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "hr",
    "a",
}


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[Any] = []

    def handle_starttag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            self.problems.append(tag)
        for name, value in attrs_:
            if tag == "a" and name == "href":
                if not (value or "").lower().startswith(("http://", "https://", "mailto:")):
                    self.problems.append((name, value))
            elif not (tag == "a" and name == "rel"):
                self.problems.append((tag, name, value))


_MARKDOWNISH = st.lists(
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[a](javascript:x)",
            "[a](https://ok.example)",
            "![i](http://evil.example/i.png)",
            "**",
            "*",
            "_",
            "`",
            "```",
            "\n",
            "\n\n",
            "# ",
            "> ",
            "- ",
            "1. ",
            '"',
            "'",
            "&",
            "<",
            ">",
            "(",
            ")",
            "[",
            "]",
            "<https://a.example>",
            "JaVaScRiPt:",
            "\x00",
            "    ",
            "---",
            "text",
        ]
    )
    | st.text(max_size=8),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MARKDOWNISH)
def test_rendered_markdown_holds_only_safe_tags_and_links(source: str) -> None:
    audit = _Audit()
    audit.feed(render_markdown(source))
    audit.close()
    assert audit.problems == []


def test_markdown_renders_what_messages_use() -> None:
    out = render_markdown(
        "# Title\n\n**Hello** *there* `x<y`\n\n- a\n- b\n\n1. one\n\n> quote\n\n"
        "```\n<b>\n```\n\n[docs](https://d.example/?a=1&b=2) <https://x.example>"
    )
    assert "<h3>Title</h3>" in out
    assert "<strong>Hello</strong> <em>there</em> <code>x&lt;y</code>" in out
    assert "<ul><li>a</li><li>b</li></ul>" in out
    assert "<ol><li>one</li></ol>" in out
    assert "<blockquote><p>quote</p></blockquote>" in out
    assert "<pre><code>&lt;b&gt;</code></pre>" in out
    assert 'href="https://d.example/?a=1&amp;b=2"' in out
    assert 'href="https://x.example"' in out


async def test_cancelled_scheduled_and_many_messages(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    async with AsyncPulsewave(live_server.admin_key, base_url=live_server.v1_url) as pw:
        sms = await pw.messages.create(channel="sms", to="+14155550123", from_="P", text="t")
        await pw.messages.cancel(sms.id)
    async with http.get(f"{live_server.url}/_inbox/messages/{sms.id}") as response:
        page = await response.text()
    assert re.findall(r'data-status="(\w+)"', page) == ["queued", "cancelled"]
    send_at = live_server.clock.now() + timedelta(hours=1)
    async with AsyncPulse(live_server.admin_key, base_url=live_server.v2_url) as pulse:
        later = await pulse.messages.send(
            to=["a@example.com"], subject="s", body="b", send_at=send_at
        )
        outcomes = await pulse.messages.send_many(
            ({"to": ["a@example.com"], "subject": f"n{i}", "body": "b"} for i in range(205)),
            concurrency=16,
        )
    assert all(not isinstance(o, Exception) for o in outcomes)
    async with http.get(f"{live_server.url}/_inbox/messages/{later.message_id}") as response:
        assert "Send at" in await response.text()
    async with http.get(live_server.url + "/_inbox") as response:
        listing = await response.text()
    assert "207 messages" in listing
    assert listing.count('<article class="message"') == 200  # the newest 200
    async with http.get(live_server.url + "/_inbox?q=n1") as response:
        assert "showing the newest" not in await response.text()
    async with http.get(live_server.url + "/_inbox/ledger") as response:
        ledger = await response.text()
    assert f'href="/_inbox/messages/{sms.id}"' in ledger
    async with http.get(live_server.url + "/_inbox/static/nope.js") as response:
        assert response.status == 404


async def test_controls_refuse_bad_bodies_and_freeze_the_clock(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    token = await _token(http, live_server)
    headers = {
        "Authorization": f"Bearer {live_server.admin_key}",
        "X-Pulse-Inbox-Token": token,
        "Content-Type": "application/json",
    }
    url = live_server.url + "/_inbox/api/clock"
    for body in (b"{", b"[1]", b'{"frozen": "maybe"}', b"{}"):
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 400, body
    live_server.clock.resume()
    async with http.post(url, data=b'{"frozen": true}', headers=headers) as response:
        assert (await response.json())["frozen"] is True
    assert live_server.clock.frozen


async def test_webhook_deliveries_of_the_server_show_with_their_message(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    """A real delivery log: a receiver on loopback, a message, the clock moved on."""
    received: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(request.headers["webhook-id"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with http.get(live_server.url + "/_inbox/webhooks") as response:
            assert "No delivery attempted yet." in await response.text()
        live_server.add_webhook(f"http://127.0.0.1:{port}/hooks")
        async with AsyncPulsewave(live_server.admin_key, base_url=live_server.v1_url) as pw:
            sms = await pw.messages.create(channel="sms", to="+14155550123", from_="P", text="t")
        live_server.advance(1)
        await live_server.webhooks.drain()
        async with http.get(live_server.url + "/_inbox/webhooks") as response:
            page = await response.text()
        async with http.get(f"{live_server.url}/_inbox/messages/{sms.id}") as response:
            message_page = await response.text()
    finally:
        await runner.cleanup()
    assert 'id="message-deliveries"' in message_page
    assert message_page.count("message.") >= 4  # queued, sending, sent, delivered
    assert received
    assert "message.delivered" in page
    assert f'href="/_inbox/messages/{sms.id}"' in page
    assert "<td>204</td>" in page
    assert "whsec_" not in page


def test_the_webhooks_page_of_a_server_without_webhooks() -> None:
    context = PageContext(now=0.0, frozen=True, token="t")
    assert "does not deliver webhooks" in webhooks_page(context, None)
    assert _deliveries(SimpleNamespace()) is None  # type: ignore[arg-type]


@attrs.frozen
class _Delivery:
    event: str
    attempt: int
    status: int | None
    endpoint_secret: str


async def test_deliveries_of_any_record_shape(
    live_server: PulseServer, http: aiohttp.ClientSession
) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    log: list[Any] = live_server.webhooks.deliveries
    log += [
        _Delivery("message.bounced", 2, 503, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"),
        {
            "event": "message.sent",
            "message_id": "msg_1",
            "at": when,
            "headers": {"webhook-id": "evt_1"},
        },
        SimpleNamespace(event="message.failed", attempt=1, _private="x", api_key="pw_x"),
    ]
    try:
        async with http.get(live_server.url + "/_inbox/webhooks") as response:
            page = await response.text()
    finally:
        log.clear()
    for text in ("message.bounced", "<td>503</td>", "message.sent", "message.failed", "evt_1"):
        assert text in page
    assert "2026-01-02 03:04:05.000" in page
    assert 'href="/_inbox/messages/msg_1"' in page
    for secret in ("whsec_", "_private", "pw_x"):
        assert secret not in page  # secret-looking and private fields are never shown


def test_markdown_block_transitions() -> None:
    out = render_markdown(
        "para\n> quoted\nafter\n\n- a\n  continued\n1. b\n\n    code <x>\n\n# x #\n\n***"
    )
    assert out.split("\n") == [
        "<p>para</p>",
        "<blockquote><p>quoted</p></blockquote>",
        "<p>after</p>",
        "<ul><li>a continued</li></ul>",
        "<ol><li>b</li></ol>",
        "<pre><code>code &lt;x&gt;</code></pre>",
        "<h3>x</h3>",
        "<hr>",
    ]
