"""The inbox's HTML: server-rendered pages from the views of :mod:`._inbox_model` (pure).

Every value that comes from a request or a message goes through :func:`h`
(:func:`html.escape`, quotes included) before it reaches a page; the only
markup built from message content is :func:`render_markdown`'s, which
escapes first too. Untrusted HTML email is never placed in these pages: it is
served on its own URL with a ``Content-Security-Policy`` that blocks scripts
and every fetch, and framed in an ``<iframe sandbox>`` (see
:mod:`._inbox`).

Pages use semantic landmarks (header, nav, main), a skip link, headings in
order, real links and buttons, labelled form fields, and a layout that
reflows (no fixed widths), so they work from the keyboard and at 200 % zoom.
Regions marked ``data-live`` are refreshed every second by ``inbox.js``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, Final
from urllib.parse import quote, urlencode

from pulse_async.testing._inbox_markdown import render_markdown
from pulse_async.testing._inbox_model import CHANNELS, STATUSES, MessageView, Step, iso

__all__ = [
    "PageContext",
    "controls_page",
    "ledger_page",
    "message_page",
    "messages_page",
    "not_found_page",
    "users_page",
    "webhooks_page",
]

_NAV: Final = (
    ("messages", "/_inbox", "Messages"),
    ("users", "/_inbox/users", "Users & threads"),
    ("ledger", "/_inbox/ledger", "Ledger"),
    ("webhooks", "/_inbox/webhooks", "Webhooks"),
    ("controls", "/_inbox/controls", "Controls"),
)
_FINAL: Final = frozenset({"delivered", "bounced", "failed", "cancelled"})


def h(value: object) -> str:
    """Escape a value for HTML text and attribute values."""
    return escape("" if value is None else str(value), quote=True)


def _time(timestamp: float, *, date: bool = False) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    shown += f".{moment.microsecond // 1000:03d}"
    return f'<time datetime="{h(iso(timestamp))}" title="{h(iso(timestamp))}">{shown}</time>'


def _status(status: str) -> str:
    return f'<span class="status status-{h(status)}">{h(status)}</span>'


def _json(value: Any) -> str:
    return h(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


class PageContext:
    """What every page shows around its content: the clock and the anti-forgery token."""

    def __init__(self, *, now: float, frozen: bool, token: str) -> None:
        self.now, self.frozen, self.token = now, frozen, token


def _layout(ctx: PageContext, section: str, title: str, content: str) -> str:
    nav = "".join(
        f'<li><a href="{href}"{" aria-current=page" if key == section else ""}>{label}</a></li>'
        for key, href, label in _NAV
    )
    mode = "frozen" if ctx.frozen else "running"
    toggle = (
        '<button type="submit" name="frozen" value="false">Resume the clock</button>'
        if ctx.frozen
        else '<button type="submit" name="frozen" value="true">Freeze the clock</button>'
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="pulse-inbox-token" content="{h(ctx.token)}">
<title>{h(title)} · Pulse inbox</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/_inbox/static/inbox.css">
<script src="/_inbox/static/inbox.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<p class="brand"><a href="/_inbox">Pulse inbox</a> <span>local test server</span></p>
<nav aria-label="Inbox sections"><ul>{nav}</ul></nav>
<section class="clock" aria-labelledby="clock-title">
<h2 id="clock-title" class="visually-hidden">Server clock</h2>
<p id="clock-now" data-live>Server clock {_time(ctx.now, date=True)} UTC,
<strong data-clock-mode="{mode}">{mode}</strong></p>
<form class="control inline" data-action="/_inbox/api/advance" aria-label="Advance the clock">
<label for="advance-seconds">Advance by (s)</label>
<input id="advance-seconds" name="seconds" type="number" min="0" step="any" value="1" required>
<button type="submit">Advance</button>
</form>
<form class="control inline" data-action="/_inbox/api/clock" aria-label="Freeze or resume">
<span id="clock-toggle" data-live>{toggle}</span>
</form>
<p class="result" role="status" aria-live="polite"></p>
</section>
</header>
<main id="main" tabindex="-1">
{content}
</main>
<dialog id="key-dialog" aria-labelledby="key-title">
<form method="dialog" id="key-form">
<h2 id="key-title">Admin key</h2>
<p>Controls need the server's admin key (<code>pulse serve</code> prints it). It is kept in
this tab only and sent with each control request.</p>
<p class="error" id="key-error" role="alert"></p>
<label for="key-input">Admin key</label>
<input id="key-input" name="key" type="password" autocomplete="off" spellcheck="false"
 required pattern="pw_(live|test)_[A-Za-z0-9_]{{8,200}}">
<div class="buttons"><button type="submit" value="ok">Use this key</button>
<button type="submit" value="cancel" formnovalidate>Cancel</button></div>
</form>
</dialog>
</body>
</html>
"""


def _dl(rows: Iterable[tuple[str, str]], cls: str = "fields") -> str:
    items = "".join(f"<div><dt>{h(k)}</dt><dd>{v}</dd></div>" for k, v in rows)
    return f'<dl class="{cls}">{items}</dl>'


def _timeline_html(steps: Sequence[Step], *, compact: bool) -> str:
    items = []
    for step in steps:
        state = "reached" if step.reached else "expected"
        label = "" if step.reached else ' <span class="note">(expected)</span>'
        items.append(
            f'<li class="{state}" data-status="{h(step.status)}">{_status(step.status)} '
            f"{_time(step.at)}{label}</li>"
        )
    cls = "timeline compact" if compact else "timeline"
    return f'<ol class="{cls}" aria-label="Status timeline">{"".join(items)}</ol>'


def _recipients(to: Sequence[str]) -> str:
    return ", ".join(h(t) for t in to) if to else '<span class="note">—</span>'


def _metadata(metadata: Mapping[str, Any]) -> str:
    if not metadata:
        return '<span class="note">none</span>'
    return ", ".join(
        f"<code>{h(k)}</code>=<code>{h(json.dumps(v, ensure_ascii=False))}</code>"
        for k, v in metadata.items()
    )


def _message_card(m: MessageView) -> str:
    subject = m.subject or (m.text or "")[:80] or m.id
    rows = [
        (
            "Channel",
            f'<span class="channel">{h(m.channel)}</span> <span class="note">API {h(m.api)}</span>',
        ),
        ("From", h(m.sender) or '<span class="note">—</span>'),
        ("To", _recipients(m.to)),
        ("Status", _timeline_html(m.timeline, compact=True)),
        ("Metadata", _metadata(m.metadata)),
        (
            "Idempotency-Key",
            f"<code>{h(m.idempotency_key)}</code>"
            if m.idempotency_key
            else '<span class="note">none</span>',
        ),
    ]
    return (
        f'<li><article class="message" data-message-id="{h(m.id)}" data-status="{h(m.status)}" '
        f'aria-labelledby="t-{h(m.id)}">'
        f'<h2 id="t-{h(m.id)}"><a href="/_inbox/messages/{quote(m.id)}">{h(subject)}</a></h2>'
        f'<p class="meta">{_status(m.status)} {_time(m.created_at, date=True)} '
        f"<code>{h(m.id)}</code></p>"
        f"{_dl(rows)}</article></li>"
    )


def _select(name: str, label: str, options: Sequence[str], value: str) -> str:
    opts = [f'<option value=""{" selected" if not value else ""}>any</option>']
    opts += [
        f'<option value="{h(o)}"{" selected" if o == value else ""}>{h(o)}</option>'
        for o in options
    ]
    return (
        f'<div class="field"><label for="f-{name}">{label}</label>'
        f'<select id="f-{name}" name="{name}">{"".join(opts)}</select></div>'
    )


def messages_page(
    ctx: PageContext,
    shown: Sequence[MessageView],
    *,
    matched: int,
    total: int,
    filters: Mapping[str, str],
) -> str:
    """The message list with its filters."""
    q, to = filters.get("q", ""), filters.get("to", "")
    form = f"""<form class="filters" method="get" action="/_inbox" role="search"
 aria-label="Filter messages">
<div class="field"><label for="f-q">Search</label>
<input id="f-q" name="q" type="search" value="{h(q)}"
 placeholder="subject, body, id, metadata…"></div>
<div class="field"><label for="f-to">Recipient</label>
<input id="f-to" name="to" type="search" value="{h(to)}" placeholder="ada@example.com"></div>
{_select("status", "Status", STATUSES, filters.get("status", ""))}
{_select("channel", "Channel", CHANNELS, filters.get("channel", ""))}
<div class="buttons"><button type="submit">Filter</button> <a href="/_inbox">Clear filters</a></div>
</form>"""
    if total == 0:
        body = (
            '<p class="empty">No messages yet. Send one through the SDK, for example '
            "<code>pulse messages send --to ada@example.com --subject Hi --body Hello</code>; "
            "it appears here within a second.</p>"
        )
    elif not shown:
        body = '<p class="empty">No message matches these filters.</p>'
    else:
        body = f'<ol class="messages">{"".join(_message_card(m) for m in shown)}</ol>'
    more = f", showing the newest {len(shown)}" if len(shown) < matched else ""
    count = f"{matched} of {total} messages{more}" if matched != total else f"{total} messages"
    return _layout(
        ctx,
        "messages",
        "Messages",
        f"""<h1>Messages</h1>
{form}
<p id="message-count" class="count" data-live aria-live="polite">{h(count)}</p>
<div id="message-list" data-live>{body}</div>
<p class="hint">Keys: <kbd>/</kbd> search, <kbd>j</kbd>/<kbd>k</kbd> next/previous message.
The list follows the server every second.</p>""",
    )


def message_page(
    ctx: PageContext, m: MessageView, deliveries: Sequence[Mapping[str, Any]] = ()
) -> str:
    """One message: fields, timeline, bodies, template, its webhook deliveries, raw JSON."""
    title = m.subject or m.id
    fields = [
        ("Id", f"<code>{h(m.id)}</code>"),
        ("API", "Pulse v2" if m.api == "v2" else "Pulsewave v1"),
        ("Channel", h(m.channel)),
        ("From", h(m.sender) or '<span class="note">—</span>'),
        ("To", _recipients(m.to)),
        ("Subject", h(m.subject) if m.subject else '<span class="note">none</span>'),
        ("Created", _time(m.created_at, date=True)),
    ]
    if m.send_at is not None:
        fields.append(("Send at", _time(m.send_at, date=True)))
    if m.thread_id:
        fields.append(("Thread", f"<code>{h(m.thread_id)}</code>"))
    fields += [
        ("Metadata", _metadata(m.metadata)),
        (
            "Idempotency-Key",
            f"<code>{h(m.idempotency_key)}</code>"
            if m.idempotency_key
            else '<span class="note">none</span>',
        ),
        (
            "Request id",
            f"<code>{h(m.request_id)}</code>" if m.request_id else '<span class="note">—</span>',
        ),
    ]
    sections = [
        f'<section aria-labelledby="s-status"><h2 id="s-status">Status</h2>'
        f'<div id="timeline" data-live><p>Now {_status(m.status)}</p>'
        f"{_timeline_html(m.timeline, compact=False)}</div></section>",
        '<section aria-labelledby="s-fields"><h2 id="s-fields">Details</h2>'
        f"{_dl(fields)}</section>",
    ]
    if m.api == "v2" and m.text is not None:
        sections.append(
            '<section aria-labelledby="s-body"><h2 id="s-body">Body (Markdown, rendered)</h2>'
            f'<div class="markdown" id="markdown-body">{render_markdown(m.text)}</div>'
            "<details><summary>Markdown source</summary>"
            f'<pre class="source">{h(m.text)}</pre></details></section>'
        )
    if m.html is not None:
        sections.append(
            '<section aria-labelledby="s-html"><h2 id="s-html">HTML email</h2>'
            '<p class="note">Shown in a sandbox: no script runs and nothing is fetched '
            "from elsewhere.</p>"
            f'<iframe sandbox class="html-body" title="HTML body of {h(title)}" '
            f'src="/_inbox/messages/{quote(m.id)}/html" referrerpolicy="no-referrer"></iframe>'
            "<details><summary>HTML source</summary>"
            f'<pre class="source">{h(m.html)}</pre></details></section>'
        )
    if m.api == "v1" and m.text is not None:
        label = "Text" if m.channel in ("sms", "push") else "Plain-text part"
        sections.append(
            f'<section aria-labelledby="s-text"><h2 id="s-text">{label}</h2>'
            f'<pre class="plain" id="text-body">{h(m.text)}</pre></section>'
        )
    if m.template_id is not None:
        sections.append(
            '<section aria-labelledby="s-template"><h2 id="s-template">Template</h2>'
            f"<p><code>{h(m.template_id)}</code></p>"
            f"<h3>Data</h3><pre>{_json(dict(m.template_data or {}))}</pre></section>"
        )
    if deliveries:
        table = _deliveries_table(deliveries, "This message's webhook deliveries, newest first")
        sections.append(
            '<section aria-labelledby="s-hooks"><h2 id="s-hooks">Webhook deliveries</h2>'
            f'<div id="message-deliveries" data-live>{table}</div></section>'
        )
    sections.append(
        '<section aria-labelledby="s-json"><h2 id="s-json">Raw JSON</h2>'
        "<p>As <code>GET /"
        + ("v2" if m.api == "v2" else "v1")
        + "/messages/{id}</code> answers now.</p>"
        + f'<pre id="raw-json" data-live>{_json(dict(m.api_json))}</pre></section>'
    )
    return _layout(
        ctx,
        "messages",
        title,
        f'<p><a href="/_inbox">← All messages</a></p><h1>{h(title)}</h1>' + "".join(sections),
    )


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{h(empty)}</p>'
    head = "".join(f'<th scope="col">{h(c)}</th>' for c in headers)
    return (
        f'<div class="table-wrap" tabindex="0" role="region" aria-label="{h(caption)}">'
        f"<table><caption>{h(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def users_page(
    ctx: PageContext,
    users: Sequence[Mapping[str, Any]],
    threads: Sequence[Mapping[str, Any]],
) -> str:
    """Users with their unread totals; threads with each participant's unread count."""
    user_rows = [
        (
            f"<code>{h(u['id'])}</code>",
            h(u["email"]),
            h(u["name"] or ""),
            h(u["role"]),
            h(u["status"]),
            f'<span data-unread="{h(u["unread"])}">{h(u["unread"])}</span>',
        )
        for u in users
    ]
    thread_rows = [
        (
            f"<code>{h(t['id'])}</code>",
            h(t["subject"]),
            h(t["messages"]),
            _time(t["last_message_at"], date=True),
            "<ul class='plain-list'>"
            + "".join(
                f"<li>{h(who)}: <strong>{h(n)}</strong> unread</li>" for who, n in t["unread"]
            )
            + "</ul>",
        )
        for t in threads
    ]
    users_table = _table(
        "Users of the workspace",
        ("Id", "Email", "Name", "Role", "Status", "Unread"),
        user_rows,
        "No users.",
    )
    threads_table = _table(
        "Threads, most recent first",
        ("Id", "Subject", "Messages", "Last message", "Unread by participant"),
        thread_rows,
        "No threads yet: Pulse v2 messages start them.",
    )
    content = (
        "<h1>Users &amp; threads</h1>"
        '<section aria-labelledby="s-users"><h2 id="s-users">Users</h2>'
        f'<div id="users" data-live>{users_table}</div></section>'
        '<section aria-labelledby="s-threads"><h2 id="s-threads">Threads</h2>'
        f'<div id="threads" data-live>{threads_table}</div></section>'
    )
    return _layout(ctx, "users", "Users & threads", content)


def ledger_page(ctx: PageContext, entries: Sequence[Mapping[str, Any]], known: set[str]) -> str:
    """Every committed side effect, newest first."""

    def resource(entry: Mapping[str, Any]) -> str:
        rid = entry["resource_id"]
        if rid in known:
            return f'<a href="/_inbox/messages/{quote(rid)}"><code>{h(rid)}</code></a>'
        return f"<code>{h(rid)}</code>"

    rows = [
        (
            _time(e["timestamp"], date=True),
            h(e["kind"]),
            resource(e),
            h(e["api"]),
            f"<code>{h(e['idempotency_key'])}</code>" if e["idempotency_key"] else "",
            f"<code>{h(e['request_id'])}</code>" if e["request_id"] else "",
        )
        for e in entries
    ]
    table = _table(
        "Ledger, newest first",
        ("At", "Kind", "Resource", "API", "Idempotency-Key", "Request id"),
        rows,
        "Nothing committed yet.",
    )
    return _layout(
        ctx,
        "ledger",
        "Ledger",
        "<h1>Ledger</h1><p>Every side effect the server committed, with the Idempotency-Key "
        f'that caused it.</p><div id="ledger" data-live>{table}</div>',
    )


def _deliveries_table(deliveries: Sequence[Mapping[str, Any]], caption: str) -> str:
    columns: list[str] = []
    for d in deliveries:
        for key in d:
            if key not in columns:
                columns.append(key)

    def cell(column: str, value: Any) -> str:
        if column == "message_id" and isinstance(value, str) and value:
            return f'<a href="/_inbox/messages/{quote(value)}"><code>{h(value)}</code></a>'
        if isinstance(value, Mapping | list | tuple):
            return (
                f"<details><summary>{len(value)} item(s)</summary>"
                f"<pre>{_json(value)}</pre></details>"
            )
        if isinstance(value, datetime):
            return _time(value.timestamp(), date=True)
        return h(value)

    rows = [tuple(cell(c, d.get(c)) for c in columns) for d in reversed(deliveries)]
    return _table(caption, columns, rows, "No delivery attempted yet.")


def webhooks_page(ctx: PageContext, deliveries: Sequence[Mapping[str, Any]] | None) -> str:
    """Webhook delivery attempts, when the server delivers webhooks."""
    if deliveries is None:
        content = (
            "<h1>Webhook deliveries</h1><p class='empty'>This server does not deliver "
            "webhooks: there is nothing to show.</p>"
        )
        return _layout(ctx, "webhooks", "Webhook deliveries", content)
    table = _deliveries_table(deliveries, "Webhook deliveries, newest first")
    return _layout(
        ctx,
        "webhooks",
        "Webhook deliveries",
        f'<h1>Webhook deliveries</h1><div id="deliveries" data-live>{table}</div>',
    )


def controls_page(
    ctx: PageContext, rules: Sequence[Mapping[str, Any]], kinds: Sequence[str]
) -> str:
    """Faults, the clock and keys: every change asks for the admin key."""
    rule_rows = [
        (
            h(r["kind"]),
            f"<code>{h(r['route'])}</code>",
            h(r["probability"]),
            h("∞" if r["remaining"] is None else r["remaining"]),
            h(r["fired"]),
        )
        for r in rules
    ]
    faults = _table(
        "Fault rules, in the order they apply",
        ("Kind", "Route", "Probability", "Firings left", "Fired"),
        rule_rows,
        "No fault rules: every request is answered normally.",
    )
    options = "".join(f'<option value="{h(k)}">{h(k)}</option>' for k in kinds)
    content = f"""<h1>Controls</h1>
<p>Viewing needs no key. Every change below asks once for the server's admin key.</p>
<section aria-labelledby="s-faults"><h2 id="s-faults">Faults</h2>
<div id="fault-rules" data-live>{faults}</div>
<form class="control" data-action="/_inbox/api/faults" aria-labelledby="s-add-fault">
<h3 id="s-add-fault">Add a fault rule</h3>
<div class="field"><label for="fault-kind">Kind</label>
<select id="fault-kind" name="kind">{options}</select></div>
<div class="field"><label for="fault-route">Route</label>
<input id="fault-route" name="route" value="*" required aria-describedby="fault-route-hint">
<p id="fault-route-hint" class="note">e.g. <code>POST /v2/messages</code>,
<code>GET /v2/users/{{id}}</code>, <code>* /v1/*</code>, <code>*</code></p></div>
<div class="field"><label for="fault-count">Count (empty: until cleared)</label>
<input id="fault-count" name="count" type="number" min="1" step="1"></div>
<div class="field"><label for="fault-probability">Probability</label>
<input id="fault-probability" name="probability" type="number" min="0" max="1" step="any"
 value="1"></div>
<div class="buttons"><button type="submit">Add the rule</button></div>
<p class="result" role="status" aria-live="polite"></p>
</form>
<form class="control" data-action="/_inbox/api/faults/clear" aria-label="Clear every fault rule">
<div class="buttons"><button type="submit">Clear every fault rule</button></div>
<p class="result" role="status" aria-live="polite"></p>
</form>
</section>
<section aria-labelledby="s-keys"><h2 id="s-keys">Keys</h2>
<form class="control" data-action="/_inbox/api/keys" aria-labelledby="s-new-key">
<h3 id="s-new-key">Create a key</h3>
<div class="field"><label for="key-role">Role</label>
<select id="key-role" name="role"><option>admin</option><option selected>editor</option>
<option>viewer</option></select></div>
<div class="field"><label for="key-rate">Rate limit</label>
<input id="key-rate" name="rate_limit" value="default" aria-describedby="key-rate-hint">
<p id="key-rate-hint" class="note"><code>default</code> (the server's), <code>free</code>,
<code>pro</code>, <code>unlimited</code> or requests per minute</p></div>
<div class="buttons"><button type="submit">Create the key</button></div>
<p class="result" role="status" aria-live="polite"></p>
</form>
</section>"""
    return _layout(ctx, "controls", "Controls", content)


def not_found_page(ctx: PageContext, what: str) -> str:
    """A 404 page that still has the navigation."""
    return _layout(
        ctx,
        "",
        "Not found",
        f'<h1>Not found</h1><p>{h(what)}</p><p><a href="/_inbox">All messages</a></p>',
    )


def filters_query(filters: Mapping[str, str]) -> str:
    """The query string of a filter set (empty values left out)."""
    return urlencode({k: v for k, v in filters.items() if v})
