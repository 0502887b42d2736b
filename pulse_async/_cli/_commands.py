"""One small function per ``pulse <resource> <action>``: call the SDK, print the answer.

Every command goes through :class:`~pulse_async.AsyncPulse` or
:class:`~pulse_async.AsyncPulsewave` exactly as a program would: the SDK
validates arguments before sending, signs, retries and maps errors; this
module only turns arguments into keyword arguments and models into output.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from pulse_async import AsyncPulse, AsyncPulsewave, Message, Thread, User
from pulse_async._cli._output import (
    MESSAGE_FIELDS,
    RECEIPT_FIELDS,
    THREAD_FIELDS,
    USER_FIELDS,
    WAVE_MESSAGE_FIELDS,
    print_json,
    print_record,
    print_table,
    to_json,
)
from pulse_async._cli._parser import UsageError
from pulse_async._core._options import PULSE_KEY_VARIABLES, PULSEWAVE_KEY_VARIABLES

__all__ = ["run_command"]

_USER_COLUMNS = (
    ("id", "id"),
    ("email", "email"),
    ("name", "name"),
    ("role", "role"),
    ("status", "status"),
    ("created_at", "created_at"),
)


class _Context:
    """What a command needs: its arguments, where to write, and the clients (made lazily)."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.as_json = bool(getattr(args, "json", False))
        self.base_url: str | None = getattr(args, "base_url", None)

    def pulse(self) -> AsyncPulse:
        return AsyncPulse(_api_key(PULSE_KEY_VARIABLES), base_url=self.base_url)

    def pulsewave(self) -> AsyncPulsewave:
        return AsyncPulsewave(_api_key(PULSEWAVE_KEY_VARIABLES), base_url=self.base_url)

    def show(self, obj: Any, fields: tuple[tuple[str, str], ...]) -> None:
        if self.as_json:
            print_json(to_json(obj, fields), self.out)
        else:
            print_record(obj, fields, self.out)


def _api_key(variables: tuple[str, ...]) -> str:
    """The first of ``variables`` that is set (Pulsewave: ``PULSEWAVE_API_KEY`` first)."""
    key = next((os.environ[n] for n in variables if os.environ.get(n, "").strip()), "")
    if not key:
        raise UsageError(
            f"no API key: set {' or '.join(variables)} (keys are never taken on the command "
            "line; `pulse serve` prints test keys for a local server)"
        )
    return key


def _pairs(pairs: list[tuple[str, str]] | None) -> dict[str, str] | None:
    return dict(pairs) if pairs else None


# --- users ------------------------------------------------------------------------------------


async def users_list(ctx: _Context) -> None:
    a = ctx.args
    wanted = None if a.all else a.limit
    page_size = a.page_max if wanted is None else min(wanted, a.page_max)
    async with ctx.pulse() as pulse:
        pager = pulse.users.list(limit=page_size, status=a.status, q=a.q)
        users: list[User] = await pager.to_list(max_items=wanted)
    if ctx.as_json:
        print_json([to_json(u, USER_FIELDS) for u in users], ctx.out)
    else:
        print_table(users, _USER_COLUMNS, ctx.out, empty="No users.")


async def users_create(ctx: _Context) -> None:
    a = ctx.args
    async with ctx.pulse() as pulse:
        user = await pulse.users.create(
            email=a.email,
            role=a.role,
            name=a.name,
            metadata=_pairs(a.metadata),
            idempotency_key=a.idempotency_key,
        )
    ctx.show(user, USER_FIELDS)


async def users_update(ctx: _Context) -> None:
    a = ctx.args
    metadata: dict[str, str | None] = dict(a.metadata or [])
    for key in a.remove_metadata or []:
        metadata[key] = None
    if a.role is None and a.name is None and not metadata:
        raise UsageError("nothing to change: give --role, --name, --metadata or --remove-metadata")
    async with ctx.pulse() as pulse:
        user = await pulse.users.update(
            a.user_id, role=a.role, name=a.name, metadata=metadata or None
        )
    ctx.show(user, USER_FIELDS)


async def users_delete(ctx: _Context) -> None:
    async with ctx.pulse() as pulse:
        await pulse.users.delete(ctx.args.user_id)
    if ctx.as_json:
        print_json({"id": ctx.args.user_id, "deleted": True}, ctx.out)
    else:
        ctx.out.write(f"deleted {ctx.args.user_id}\n")


# --- messages ---------------------------------------------------------------------------------


async def messages_send(ctx: _Context) -> None:
    a = ctx.args
    to = [part.strip() for entry in a.to for part in entry.split(",") if part.strip()]
    body = sys.stdin.read() if a.body == "-" else a.body
    async with ctx.pulse() as pulse:
        receipt = await pulse.messages.send(
            to=to,
            subject=a.subject,
            body=body,
            thread_id=a.thread_id,
            send_at=a.send_at,
            idempotency_key=a.idempotency_key,
        )
        if not a.wait:
            ctx.show(receipt, RECEIPT_FIELDS)
            return
        message = await pulse.messages.wait(receipt.message_id, timeout=a.timeout)
    ctx.show(message, MESSAGE_FIELDS)


async def messages_get(ctx: _Context) -> None:
    async with ctx.pulse() as pulse:
        message = await pulse.messages.retrieve(ctx.args.message_id)
    ctx.show(message, MESSAGE_FIELDS)


async def messages_wait(ctx: _Context) -> None:
    a = ctx.args
    async with ctx.pulse() as pulse:
        message = await pulse.messages.wait(
            a.message_id, until=a.until, timeout=a.timeout, poll_interval=a.poll_interval
        )
    ctx.show(message, MESSAGE_FIELDS)


# --- threads ----------------------------------------------------------------------------------


async def threads_list(ctx: _Context) -> None:
    a = ctx.args
    wanted = None if a.all else a.limit
    page_size = a.page_max if wanted is None else min(wanted, a.page_max)
    async with ctx.pulse() as pulse:
        threads: list[Thread] = await pulse.threads.list(limit=page_size, unread=a.unread).to_list(
            max_items=wanted
        )
    if ctx.as_json:
        print_json([to_json(t, THREAD_FIELDS) for t in threads], ctx.out)
    else:
        print_table(threads, THREAD_FIELDS, ctx.out, empty="No threads.")


# --- pulsewave --------------------------------------------------------------------------------


async def pulsewave_send(ctx: _Context) -> None:
    a = ctx.args
    async with ctx.pulsewave() as pw:
        message = await pw.messages.create(
            channel=a.channel,
            to=a.to,
            from_=a.from_,
            subject=a.subject,
            text=a.text,
            html=a.html,
            template_id=a.template_id,
            template_data=_pairs(a.data),
            metadata=_pairs(a.metadata),
            idempotency_key=a.idempotency_key,
        )
    ctx.show(message, WAVE_MESSAGE_FIELDS)


async def pulsewave_get(ctx: _Context) -> None:
    async with ctx.pulsewave() as pw:
        message = await pw.messages.retrieve(ctx.args.message_id)
    ctx.show(message, WAVE_MESSAGE_FIELDS)


async def pulsewave_cancel(ctx: _Context) -> None:
    async with ctx.pulsewave() as pw:
        message: Message = await pw.messages.cancel(ctx.args.message_id)
    ctx.show(message, WAVE_MESSAGE_FIELDS)


async def pulsewave_wait(ctx: _Context) -> None:
    a = ctx.args
    async with ctx.pulsewave() as pw:
        message = await pw.messages.wait(
            a.message_id, until=a.until, timeout=a.timeout, poll_interval=a.poll_interval
        )
    ctx.show(message, WAVE_MESSAGE_FIELDS)


_HANDLERS: dict[str, Callable[[_Context], Awaitable[None]]] = {
    "users_list": users_list,
    "users_create": users_create,
    "users_update": users_update,
    "users_delete": users_delete,
    "messages_send": messages_send,
    "messages_get": messages_get,
    "messages_wait": messages_wait,
    "threads_list": threads_list,
    "pulsewave_send": pulsewave_send,
    "pulsewave_get": pulsewave_get,
    "pulsewave_cancel": pulsewave_cancel,
    "pulsewave_wait": pulsewave_wait,
}


async def run_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the command ``args`` names; its exit status (errors propagate to the caller)."""
    await _HANDLERS[args.handler](_Context(args, sys.stdout if out is None else out))
    return 0
