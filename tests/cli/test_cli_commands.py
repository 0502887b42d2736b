"""Every ``pulse`` resource command, in a subprocess, against a local server on a frozen clock."""

from __future__ import annotations

import re

from cli_helpers import Cli

REQUEST_ID = re.compile(r"\[request_id req_[0-9a-f]+\]")


def test_users_create_list_update_delete(cli: Cli) -> None:
    created = cli.run(
        "users", "create", "--email", "ada@example.com", "--role", "editor",
        "--name", "Ada Lovelace", "--metadata", "team=ops", "--metadata", "floor=3", "--json",
    ).json()  # fmt: skip
    assert created["email"] == "ada@example.com"
    assert created["role"] == "editor"
    assert created["status"] == "pending"
    assert created["metadata"] == {"team": "ops", "floor": "3"}
    assert created["id"].startswith("usr_")
    assert created["idempotency_key"]  # the create was sent with one
    user_id = created["id"]

    # Independent reads overlap. Options after the command and before it mean the same.
    by_query = cli.start("--json", "users", "list", "-q", "ada")
    everyone = cli.start("users", "list", "--all", "--json")
    two = cli.start("users", "list", "--limit", "2", "--json")
    assert [u["id"] for u in by_query.result().json()] == [user_id]
    emails = [u["email"] for u in everyone.result().json()]
    assert emails[0] == "ada@example.com"  # newest first
    assert set(emails) == {"ada@example.com", "admin@example.com", "editor@example.com",
                           "viewer@example.com"}  # fmt: skip
    assert len(two.result().json()) == 2

    updated = cli.run(
        "users", "update", user_id, "--role", "viewer", "--metadata", "desk=12",
        "--remove-metadata", "floor", "--json",
    ).json()  # fmt: skip
    assert updated["role"] == "viewer"
    assert updated["metadata"] == {"team": "ops", "desk": "12"}
    assert updated["updated_at"] is not None

    table = cli.run("users", "list", "--status", "pending").stdout.splitlines()
    assert table[0].split() == ["ID", "EMAIL", "NAME", "ROLE", "STATUS", "CREATED", "AT"]
    assert any(user_id in line and "Ada Lovelace" in line and "viewer" in line for line in table)

    deleted = cli.run("users", "delete", user_id, "--json").json()
    assert deleted == {"id": user_id, "deleted": True}
    assert [e.kind for e in cli.server.ledger] == ["user.created", "user.updated", "user.deleted"]

    gone = cli.run("users", "delete", user_id, expect=1)
    assert gone.stdout == ""
    assert gone.stderr.startswith("error: not_found: ")
    assert user_id in gone.stderr
    assert REQUEST_ID.search(gone.stderr)


def test_messages_send_get_wait_and_threads(cli: Cli) -> None:
    receipt = cli.run(
        "messages", "send", "--to", "admin@example.com,grace@example.com",
        "--to", "editor@example.com", "--subject", "Launch", "--body", "-", "--json",
        stdin="**We launch** on Monday.\n",
    ).json()  # fmt: skip
    assert receipt["status"] == "queued"
    assert receipt["recipient_count"] == 3
    message_id = receipt["message_id"]

    human = cli.run("messages", "get", message_id).stdout
    assert re.search(rf"^id\s+{message_id}$", human, re.MULTILINE)
    assert re.search(r"^status\s+queued$", human, re.MULTILINE)  # the server's clock is frozen
    assert re.search(r"^subject\s+Launch$", human, re.MULTILINE)
    found = re.search(r"^thread_id\s+(thr_\S+)$", human, re.MULTILINE)
    assert found is not None
    thread_id = found.group(1)

    # A reply in the same thread, then the lifecycle runs its course.
    # Waiting while the clock stands still runs out of time: an API-side failure, status 1.
    reply = cli.run(
        "messages", "send", "--to", "editor@example.com", "--subject", "Re: Launch",
        "--body", "Great", "--thread-id", thread_id, "--wait", "--timeout", "0.5", expect=1,
    )  # fmt: skip
    assert reply.stdout == ""
    assert re.fullmatch(
        r"error: timeout: message msg_\S+ did not reach .* within 0.5s \(last status 'queued'\)\n",
        reply.stderr,
    )
    cli.server.advance(5)
    final = cli.start("messages", "wait", message_id, "--timeout", "20", "--json")
    threads = cli.start("threads", "list", "--json")
    unread = cli.start("threads", "list", "--unread", "--json")
    table = cli.start("threads", "list")
    unknown = cli.start("messages", "get", "msg_nope")

    assert final.result().json()["status"] == "delivered"
    listed = threads.result().json()
    assert [t["id"] for t in listed] == [thread_id]
    assert listed[0]["subject"] == "Launch"
    assert unread.result().json() == []  # the admin sent both messages
    lines = table.result().stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "SUBJECT"]
    assert thread_id in lines[1]

    missing = unknown.result(expect=1)
    assert missing.stderr.startswith("error: not_found: ")
    assert REQUEST_ID.search(missing.stderr)


def test_pulsewave_send_get_cancel(cli: Cli) -> None:
    sms = cli.run(
        "pulsewave", "send", "--channel", "sms", "--to", "+14155550123", "--from", "Pulse",
        "--text", "Your code is 1234", "--metadata", "purpose=otp", "--json",
    ).json()  # fmt: skip
    assert sms["channel"] == "sms"
    assert sms["status"] == "queued"
    assert sms["from"] == "Pulse"
    assert sms["metadata"] == {"purpose": "otp"}

    fetched = cli.start("pulsewave", "get", sms["id"], "--json")
    email = cli.start(
        "pulsewave", "send", "--channel", "email", "--to", "ada@example.com",
        "--from", "news@example.com", "--template-id", "tmpl_welcome",
        "--data", "name=Ada", "--data", "product=Pulse",
    )  # fmt: skip
    assert fetched.result().json()["to"] == "+14155550123"
    cancelled = cli.run("pulsewave", "cancel", sms["id"], "--json").json()
    assert cancelled["status"] == "cancelled"
    assert cli.server.server.message_status(sms["id"]) == "cancelled"
    again = cli.start("pulsewave", "cancel", sms["id"])

    text = email.result().stdout
    assert re.search(r"^subject\s+Welcome to Pulse, Ada!$", text, re.MULTILINE)
    email_id = re.search(r"^id\s+(msg_\S+)$", text, re.MULTILINE)
    assert email_id is not None
    cli.server.advance(5)
    done = cli.run("pulsewave", "wait", email_id.group(1), "--json").json()
    assert done["status"] == "delivered"

    refused = again.result(expect=1)
    assert refused.stderr.startswith("error: invalid_state: message is cancelled")
    assert REQUEST_ID.search(refused.stderr)
