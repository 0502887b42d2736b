"""The local server's message endpoints: Pulse v2 messages and threads, Pulsewave v1 messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pulse_async._core._validation import (
    validate_create_message,
    validate_list_threads,
    validate_send_message,
)
from pulse_async.testing._records import (
    _OUTCOME_RANK,
    ApiFailure,
    Call,
    MessageRecord,
    ThreadRecord,
    _decode_cursor,
    _encode_cursor,
    _invalid,
    _iso,
    _not_found,
    _render,
    object_body,
    query_bool,
    query_int,
)
from pulse_async.testing._workspace import Workspace

__all__ = ["MessageEndpoints"]

_SEND_FIELDS: Final = frozenset({"to", "subject", "body", "thread_id", "send_at"})
_WAVE_FIELDS: Final = frozenset(
    {"channel", "to", "from", "subject", "text", "html", "template_id", "template_data", "metadata"}
)


class MessageEndpoints(Workspace):
    """``/v2/messages``, ``/v2/threads`` and ``/v1/messages``."""

    def send_message(self, call: Call, body: Any) -> tuple[int, Any]:
        b = object_body(body, _SEND_FIELDS, ("to", "subject", "body"))
        raw_send_at = b.get("send_at")
        send_at = validate_send_message(
            to=b["to"],
            subject=b["subject"],
            body=b["body"],
            thread_id=b.get("thread_id"),
            send_at=raw_send_at,
            now=self.clock.now() if raw_send_at is not None else None,
        )
        recipients: dict[str, str] = {}
        members: list[str] = []
        for entry in b["to"]:
            if entry.startswith("usr_"):
                user = self.users.get(entry)
                if user is None:
                    raise _invalid("to", f"unknown user id {entry!r}")
            else:
                user = self._emails.get(entry.casefold())
            if user is not None:
                if user.id not in recipients:
                    recipients[user.id] = user.email
                    members.append(user.id)
            else:
                recipients.setdefault(entry.casefold(), entry)
        thread_id = b.get("thread_id")
        now = self.clock.time()
        if thread_id is not None:
            thread = self.threads.get(thread_id)
            if thread is None:
                raise _not_found("thread", thread_id, "thread_id")
        else:
            new_id, seq = self._new_id("thr")
            thread = ThreadRecord(
                id=new_id, seq=seq, subject=b["subject"], last_message_at=now, activity=0
            )
            self.threads[new_id] = thread
        outcome = "delivered"
        for address in recipients.values():
            o = self.outcome_for(address)
            if _OUTCOME_RANK[o] > _OUTCOME_RANK[outcome]:
                outcome = o
        message_id, _ = self._new_id("msg")
        due = send_at.timestamp() if send_at is not None else now
        self.messages[message_id] = MessageRecord(
            id=message_id,
            api="pulse",
            created_at=now,
            due=due,
            outcome=outcome,
            subject=b["subject"],
            thread_id=thread.id,
            recipient_count=len(recipients),
            send_at=due if send_at is not None else None,
            text=b["body"],
        )
        sender = call.user.id
        unread = thread.unread
        for uid in (sender, *members):
            if uid not in unread:
                unread[uid] = 0
                self._user_threads.setdefault(uid, set()).add(thread.id)
        for uid in unread:
            if uid != sender:
                unread[uid] += 1
        thread.message_ids.append(message_id)
        thread.last_message_at = now
        thread.activity = next(self._activity)
        self._record("message.created", message_id, "pulse", call)
        return 202, {
            "message_id": message_id,
            "status": "queued",
            "recipient_count": len(recipients),
        }

    def _message(self, message_id: str, api: str) -> MessageRecord:
        message = self.messages.get(message_id)
        if message is None or message.api != api:
            raise _not_found("message", message_id)
        return message

    def get_message(self, call: Call, message_id: str) -> tuple[int, Any]:
        return 200, self.message_json(self._message(message_id, "pulse"))

    def message_json(self, m: MessageRecord, status: str | None = None) -> dict[str, Any]:
        """A message as ``GET /messages/{id}`` of its API returns it (at ``status``, or now)."""
        if m.api == "pulsewave":
            return self._wave_json(m, status)
        return {
            "id": m.id,
            "status": status or self.status_of(m),
            "thread_id": m.thread_id,
            "subject": m.subject,
            "recipient_count": m.recipient_count,
            "send_at": _iso(m.send_at) if m.send_at is not None else None,
            "created_at": _iso(m.created_at),
        }

    def list_threads(self, call: Call, query: Mapping[str, str]) -> tuple[int, Any]:
        limit = query_int(query, "limit")
        unread = query_bool(query, "unread")
        cursor = query.get("cursor")
        validate_list_threads(limit=limit, cursor=cursor, unread=unread)
        after = _decode_cursor(cursor, 1)[0] if cursor is not None else None
        size = limit or 25
        uid = call.user.id
        threads = sorted(
            (self.threads[t] for t in self._user_threads.get(uid, ())),
            key=lambda t: t.activity,
            reverse=True,
        )
        page: list[ThreadRecord] = []
        for thread in threads:
            if after is not None and thread.activity >= after:
                continue
            if unread is not None and (thread.unread.get(uid, 0) > 0) != unread:
                continue
            page.append(thread)
            if len(page) > size:
                break
        has_more = len(page) > size
        page = page[:size]
        return 200, {
            "data": [
                {
                    "id": t.id,
                    "subject": t.subject,
                    "unread_count": t.unread.get(uid, 0),
                    "last_message_at": _iso(t.last_message_at),
                }
                for t in page
            ],
            "has_more": has_more,
            "next_cursor": _encode_cursor(page[-1].activity) if has_more else None,
        }

    # -- Pulsewave v1 --------------------------------------------------------------------------

    def _wave_json(self, m: MessageRecord, status: str | None = None) -> dict[str, Any]:
        return {
            "id": m.id,
            "object": "message",
            "channel": m.channel,
            "status": status or self.status_of(m),
            "to": m.to,
            "from": m.from_,
            "subject": m.subject,
            "template_id": m.template_id,
            "metadata": m.metadata,
            "created_at": _iso(m.created_at),
        }

    def create_wave_message(self, call: Call, body: Any) -> tuple[int, Any]:
        b = object_body(body, _WAVE_FIELDS, ("channel", "to", "from"))
        channel = b["channel"]
        validate_create_message(
            channel=channel,
            to=b["to"],
            from_=b["from"],
            subject=b.get("subject"),
            text=b.get("text"),
            html=b.get("html"),
            template_id=b.get("template_id"),
            template_data=b.get("template_data"),
            metadata=b.get("metadata"),
        )
        subject, text, html = b.get("subject"), b.get("text"), b.get("html")
        template_id = b.get("template_id")
        if template_id is not None:
            template = self.templates.get(template_id)
            if template is None:
                raise _not_found("template", template_id, "template_id")
            data = b.get("template_data") or {}
            subject = subject if subject is not None else _render(template.subject, data)
            text = text if text is not None else _render(template.text, data)
            if channel == "email":
                html = html if html is not None else _render(template.html, data)
        if channel == "email":
            domain = b["from"].rpartition("@")[2].lower()
            if domain not in self.verified_domains:
                raise _invalid("from", f"{domain!r} is not a verified sending domain")
            if not subject:
                raise _invalid("subject", "is required for email; the template has no subject")
        elif not text:
            raise _invalid("text", f"is required for {channel}; the template has no text")
        message_id, _ = self._new_id("msg")
        now = self.clock.time()
        message = MessageRecord(
            id=message_id,
            api="pulsewave",
            created_at=now,
            due=now,
            outcome=self.outcome_for(b["to"]),
            subject=subject if channel == "email" else None,
            channel=channel,
            to=b["to"],
            from_=b["from"],
            text=text,
            html=html,
            template_id=template_id,
            metadata=dict(b.get("metadata") or {}),
        )
        self.messages[message_id] = message
        self._record("message.created", message_id, "pulsewave", call)
        return 202, self._wave_json(message)

    def get_wave_message(self, call: Call, message_id: str) -> tuple[int, Any]:
        return 200, self._wave_json(self._message(message_id, "pulsewave"))

    def cancel_wave_message(self, call: Call, message_id: str) -> tuple[int, Any]:
        message = self._message(message_id, "pulsewave")
        status = self.status_of(message)
        if status != "queued":
            raise ApiFailure(
                409, "invalid_state", f"message is {status}; only a queued message can be cancelled"
            )
        message.cancelled_at = self.clock.time()
        self._record("message.cancelled", message_id, "pulsewave", call)
        return 200, self._wave_json(message)
