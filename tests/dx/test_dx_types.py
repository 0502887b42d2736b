"""Issue 18 item 4 and issue 13's house: one home for roles, statuses and channels, and types.

The ``Literal`` types are checked by mypy in ``tests/typing/api.py``; here, at run time: each
enumeration has one home that validation, the models' enums, the local server and the CLI
all read, ``until`` refuses a bare string as ``to`` always did, and responses still take
values the SDK has never heard of.
"""

from __future__ import annotations

import inspect
from typing import Any, get_args

import pytest

import pulse_async.constants as constants
import pulse_sync
from pulse_async import (
    AsyncClient,
    AsyncPulse,
    AsyncPulsewave,
    Channel,
    MessageStatus,
    Role,
    UserStatus,
    ValidationError,
)
from pulse_async._cli._parser import build_parser
from pulse_async._core import _validation
from pulse_async._core._converter import converter
from pulse_async.models import Message, User
from pulse_async.testing import _state

PAIRS = [
    (Role, constants.RoleName, constants.ROLES),
    (UserStatus, constants.UserStatusName, constants.USER_STATUSES),
    (MessageStatus, constants.MessageStatusName, constants.MESSAGE_STATUSES),
    (Channel, constants.ChannelName, constants.CHANNELS),
]


@pytest.mark.parametrize(("enum", "literal", "values"), PAIRS, ids=lambda x: str(x)[:20])
def test_each_enumeration_is_spelt_once(enum: Any, literal: Any, values: frozenset[str]) -> None:
    assert {member.value for member in enum} == set(get_args(literal)) == values


def test_validation_the_server_and_the_cli_read_the_one_home() -> None:
    assert _validation.ROLES is constants.ROLES
    assert _validation.USER_STATUSES is constants.USER_STATUSES
    assert _validation.CHANNELS is constants.CHANNELS
    assert get_args(constants.RoleName) == _state.ROLES
    assert constants.FINAL_STATUSES < constants.MESSAGE_STATUSES
    parser = build_parser()
    args = parser.parse_args(["users", "list", "--status", "pending"])
    assert args.status == "pending"
    with pytest.raises(SystemExit):
        parser.parse_args(["users", "list", "--status", "actve"])


def test_the_sync_signatures_show_the_public_defaults() -> None:
    params = inspect.signature(pulse_sync.Pulse.__init__).parameters
    assert params["max_retries"].default == constants.DEFAULT_MAX_RETRIES
    assert params["max_retry_after"].default == constants.DEFAULT_MAX_RETRY_AFTER
    assert params["max_response_bytes"].default == constants.DEFAULT_MAX_RESPONSE_BYTES
    assert params["max_connections"].default == constants.DEFAULT_MAX_CONNECTIONS


def test_constants_load_no_io() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pulse_async.constants; "
        "print(sorted(m for m in ('aiohttp', 'asyncio', 'tenacity') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("until", ["delivered", b"delivered", 5])
async def test_until_refuses_a_bare_string_before_sending(until: Any) -> None:
    for cls in (AsyncPulse, AsyncPulsewave):
        async with cls("pw_test_k", base_url="http://127.0.0.1:9") as client:
            with pytest.raises(ValidationError) as caught:
                await client.messages.wait("msg_1", until=until)
            assert caught.value.field == "until"
            assert client.stats.attempts == 0


async def test_until_takes_a_generator_whole(pulse_server: Any, pulse_client: AsyncPulse) -> None:
    receipt = await pulse_client.messages.send(to=["ada@example.com"], subject="s", body="b")
    pulse_server.advance(5)
    message = await pulse_client.messages.wait(
        receipt.message_id, until=(s for s in ["delivered"]), timeout=5
    )
    assert message.status == "delivered"


def test_responses_tolerate_values_the_sdk_does_not_know() -> None:
    user = converter.structure(
        {"id": "usr_1", "email": "a@b.co", "role": "owner", "status": "suspended"}, User
    )
    assert (user.role, user.status) == ("owner", "suspended")
    message = converter.structure({"id": "msg_1", "status": "deferred", "channel": "fax"}, Message)
    assert (message.status, message.channel) == ("deferred", "fax")


def test_both_clients_share_a_public_base() -> None:
    assert issubclass(AsyncPulse, AsyncClient)
    assert issubclass(AsyncPulsewave, AsyncClient)
    assert issubclass(pulse_sync.Pulse, pulse_sync.Client)
    assert issubclass(pulse_sync.Pulsewave, pulse_sync.Client)


def test_until_holds_strings_only() -> None:
    with pytest.raises(ValidationError) as caught:
        _validation.check_until([MessageStatus.SENT, 3])
    assert caught.value.field == "until"
    assert _validation.check_until(None) is None
    assert _validation.check_until([MessageStatus.SENT, "delivered"]) == {"sent", "delivered"}


MISUSES = """
from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_sync import Pulse

async def f(a: AsyncPulse, w: AsyncPulsewave, s: Pulse) -> None:
    a.with_options(max_retries="x")
    await w.aclose(1)
    s.with_options(timeout="slow")
    await a.users.create(email="e@example.com", role="superuser")
    s.messages.send(to="e@example.com", subject="s", body="b")
"""


@pytest.mark.slow
def test_mypy_names_public_classes_in_its_messages(tmp_path: Any) -> None:
    """What a user sees when they get it wrong: mypy names AsyncClient, never ``_Client``."""
    from mypy import api

    source = tmp_path / "misuse.py"
    source.write_text(MISUSES)
    stdout, _stderr, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(source)]
    )
    lines = stdout.strip().splitlines()
    assert status == 1
    assert len(lines) == 5, stdout
    assert all('"_' not in line for line in lines), stdout  # no private class or function
    assert '"with_options" of "AsyncClient"' in stdout
    assert '"with_options" of "Client"' in stdout
    assert '"create" of "AsyncUsers"' in stdout
