"""The sync surface mirrors the async one: names, parameters, defaults, docstrings, exports.

The walk reads whatever the async clients, resources and pager have *now*, so a
method added to ``pulse_async`` fails here until its sync twin exists.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import child_env, run_script

import pulse_async
import pulse_async.errors
import pulse_async.models
import pulse_sync
from pulse_async import AsyncPager, AsyncPulse, AsyncPulsewave
from pulse_sync import Pager, Pulse, Pulsewave

#: Async names whose sync twin has another name; ``None``: covered by another twin.
RENAMED: dict[str, str | None] = {
    "aclose": "close",
    "close": None,  # the async ``close`` is an alias of ``aclose``, whose twin is ``close``
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
}
#: Parameters only a sync twin has, appended after the async ones, and documented in a
#: paragraph after the async docstring: a blocking call cannot hand back an awaitable
#: batch with two faces (a list, a stream), so the sync twin asks which one.
SYNC_ONLY_PARAMS: dict[str, list[str]] = {"send_many": ["stream"], "create_many": ["stream"]}
BASE_URL = "http://127.0.0.1:9"  # never contacted: these tests make no request


def to_sync_doc(doc: str | None) -> str | None:
    """What an async docstring says, in sync words: no ``await``, no ``async``, no ``Async``."""
    if doc is None:
        return None
    doc = re.sub(r"\bawait ", "", doc)
    doc = re.sub(r"\basync (for|with) ", r"\1 ", doc)
    return re.sub(r"\bAsync(?=[A-Z])", "", doc)


def public_members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name not in RENAMED:
            continue
        if name.startswith("__") and name not in RENAMED:
            continue
        yield name, member


def _params(fn: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in inspect.signature(fn).parameters.values()
        if not p.name.startswith("_")  # the async constructor's test hooks (_clock, _sleep, _rng)
    ]


def resource_pairs() -> list[tuple[str, type, type]]:
    """(attribute, async resource class, sync resource class) for both clients."""
    pairs = []
    for async_cls, sync_cls in [(AsyncPulse, Pulse), (AsyncPulsewave, Pulsewave)]:
        async_client = async_cls("pw_test_k", base_url=BASE_URL)  # no session until a request
        with sync_cls("pw_test_k", base_url=BASE_URL) as sync_client:
            for attr, value in vars(async_client).items():
                if type(value).__module__.startswith("pulse_async.resources"):
                    twin = getattr(sync_client, attr, None)
                    assert twin is not None, f"{sync_cls.__name__}.{attr} is missing"
                    pairs.append((f"{sync_cls.__name__}.{attr}", type(value), type(twin)))
    return pairs


CLASS_PAIRS = [
    ("Pulse", AsyncPulse, Pulse),
    ("Pulsewave", AsyncPulsewave, Pulsewave),
    ("Pager", AsyncPager, Pager),
    *resource_pairs(),
]


def test_every_client_has_its_resources() -> None:
    names = {label for label, _, _ in CLASS_PAIRS}
    assert {"Pulse.users", "Pulse.messages", "Pulse.threads", "Pulsewave.messages"} <= names


@pytest.mark.parametrize(("label", "async_cls", "sync_cls"), CLASS_PAIRS, ids=lambda x: str(x))
def test_sync_twin_of_every_public_member(label: str, async_cls: type, sync_cls: type) -> None:
    checked = 0
    for name, member in public_members(async_cls):
        twin_name = RENAMED.get(name, name)
        if twin_name is None:
            continue
        twin = inspect.getattr_static(sync_cls, twin_name, None)
        where = f"{label}.{twin_name} (twin of {async_cls.__name__}.{name})"
        assert twin is not None, f"{where} is missing"
        if isinstance(inspect.getattr_static(async_cls, name), property):
            assert isinstance(twin, property), f"{where} should be a property"
            assert inspect.getdoc(twin) == inspect.getdoc(member), f"{where}: docstring differs"
        else:
            assert callable(twin), where
            assert not inspect.iscoroutinefunction(twin), f"{where} must block, not be async"
            extra = SYNC_ONLY_PARAMS.get(name, [])
            sync_params = _params(twin)
            assert sync_params[: len(sync_params) - len(extra)] == _params(member), (
                f"{where}: parameters differ"
            )
            assert [p[0] for p in sync_params[len(sync_params) - len(extra) :]] == extra, where
            expected = to_sync_doc(inspect.getdoc(member))
            doc = inspect.getdoc(twin)
            if extra:  # the async docstring, then a paragraph on the sync-only parameters
                assert doc is not None, where
                assert expected is not None, where
                assert doc.startswith(expected + "\n\n"), f"{where}: docstring differs"
                assert all(f"``{p}=" in doc[len(expected) :] for p in extra), where
            else:
                assert doc == expected, f"{where}: docstring differs"
        checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"), [(AsyncPulse, Pulse), (AsyncPulsewave, Pulsewave)]
)
def test_constructor_takes_the_same_options(async_cls: type, sync_cls: type) -> None:
    assert _params(sync_cls.__init__) == _params(async_cls.__init__)


def test_all_is_sorted_and_complete() -> None:
    # ruff's RUF022 order, as in pulse_async: CONSTANTS, then Classes, then the rest.
    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)

    assert pulse_sync.__all__ == sorted(pulse_sync.__all__, key=order)
    assert len(set(pulse_sync.__all__)) == len(pulse_sync.__all__)
    for name in pulse_sync.__all__:
        assert hasattr(pulse_sync, name), name


def test_models_and_errors_are_the_async_classes() -> None:
    shared = [*pulse_async.models.__all__, *pulse_async.errors.__all__]
    for name in shared:
        assert name in pulse_sync.__all__, f"pulse_sync does not re-export {name}"
        assert getattr(pulse_sync, name) is getattr(pulse_async, name), name
    for name in pulse_sync.__all__:
        if name in pulse_async.__all__:
            assert getattr(pulse_sync, name) is getattr(pulse_async, name), name


def test_names_load_when_first_used(tmp_path: Path) -> None:
    """``import pulse_sync`` loads no client (nor aiohttp); naming ``Pulse`` loads what it needs."""
    result = run_script(
        """
        import sys
        import pulse_sync

        CLIENTS = ["aiohttp", "pulse_async._client", "pulse_sync._client", "pulse_sync._loop"]

        def loaded(names):
            return [name for name in names if name in sys.modules]

        assert loaded(["pulse_async", *CLIENTS]) == [], loaded(["pulse_async", *CLIENTS])
        assert {"Pulse", "User", "LoopThreadError"} <= set(dir(pulse_sync))
        assert loaded(["pulse_async", *CLIENTS]) == [], "dir() loaded a module"

        from pulse_sync import Pulse, User

        assert User is sys.modules["pulse_async"].User
        assert loaded(CLIENTS) == CLIENTS, loaded(CLIENTS)
        assert "pulse_async._redis_limiter" not in sys.modules, "loaded before it was named"
        assert pulse_sync.RedisRateLimiter is sys.modules["pulse_async"].RedisRateLimiter
        """,
        child_env(),
        tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_dir_shows_only_public_names() -> None:
    """Issue 18: ``dir(pulse_sync)`` listed the module's own imports and helpers too."""
    assert dir(pulse_sync) == sorted(pulse_sync.__all__)


def test_every_async_params_class_has_its_sync_export() -> None:
    """Issue 18: ``SendParams``/``CreateParams`` were missing from ``pulse_sync``."""
    for name in ("SendParams", "CreateParams"):
        assert name in pulse_async.__all__
        assert getattr(pulse_sync, name) is getattr(pulse_async, name)
    assert pulse_sync.SendParams(to=["usr_1"], subject="s", body="b").subject == "s"
