"""The public surface: sorted ``__all__`` lists, every name importable, DESIGN's names present."""

from __future__ import annotations

import importlib
import inspect

import pytest

import pulse_async
import pulse_async.errors
import pulse_async.models
import pulse_sync

PACKAGES = [pulse_async, pulse_async.errors, pulse_async.models, pulse_sync]

#: The names DESIGN.md promises, by module.
DESIGN_NAMES = {
    "pulse_async": [
        "AsyncPulse",
        "AsyncPulsewave",
        "User",
        "MessageReceipt",
        "Message",
        "Thread",
        "Page",
        "PulseError",
        "APIError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "RateLimitError",
        "ServerError",
        "ValidationError",
        "APIConnectionError",
        "APITimeoutError",
        "APIResponse",
        "RateLimitInfo",
    ],
    "pulse_async.errors": [
        "PulseError",
        "APIError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "RateLimitError",
        "ServerError",
        "ValidationError",
        "APIConnectionError",
        "APITimeoutError",
    ],
    "pulse_async.models": ["User", "MessageReceipt", "Message", "Thread", "Page"],
}


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("module", PACKAGES, ids=lambda m: m.__name__)
def test_all_is_sorted_and_unique(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(names, key=_isort_style)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("module", PACKAGES, ids=lambda m: m.__name__)
def test_every_name_in_all_imports(module: object) -> None:
    name = module.__name__  # type: ignore[attr-defined]
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)
    for public in module.__all__:  # type: ignore[attr-defined]
        assert public in namespace, public
        assert namespace[public] is getattr(importlib.import_module(name), public)


@pytest.mark.parametrize("module", PACKAGES, ids=lambda m: m.__name__)
def test_dir_lists_every_public_name(module: object) -> None:
    """Names that load on first use (PEP 562) are listed all the same."""
    assert set(module.__all__) <= set(dir(module))  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [pulse_async, pulse_sync], ids=lambda m: m.__name__)
def test_an_unknown_name_is_an_attribute_error(module: object) -> None:
    assert not hasattr(module, "NoSuchName")
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        _ = module.NoSuchName  # type: ignore[attr-defined]


@pytest.mark.parametrize(("module", "names"), DESIGN_NAMES.items())
def test_design_names_import(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in names:
        assert name in imported.__all__, f"{module}.{name} is not in __all__"
        assert getattr(imported, name) is not None


def test_reexports_are_the_same_objects() -> None:
    for name in pulse_async.errors.__all__:
        assert getattr(pulse_async, name) is getattr(pulse_async.errors, name)
    for name in pulse_async.models.__all__:
        assert getattr(pulse_async, name) is getattr(pulse_async.models, name)


def test_public_classes_are_presented_as_public() -> None:
    """``__module__`` of a public class never leaks a test-only or third-party module."""
    for name in pulse_async.__all__:
        obj = getattr(pulse_async, name)
        if inspect.isclass(obj):
            assert obj.__module__.startswith("pulse_async"), (name, obj.__module__)


def test_error_tree_matches_design() -> None:
    e = pulse_async.errors
    for cls in (
        e.AuthenticationError,
        e.PermissionDeniedError,
        e.NotFoundError,
        e.ConflictError,
        e.RateLimitError,
        e.ServerError,
    ):
        assert cls.__bases__ == (e.APIError,)
    assert issubclass(e.APIError, e.PulseError)
    assert issubclass(e.ValidationError, e.PulseError)
    assert issubclass(e.ValidationError, ValueError)
    assert not issubclass(e.ValidationError, e.APIError)
    assert e.APIConnectionError.__bases__ == (e.PulseError,)
    assert e.APITimeoutError.__bases__ == (e.APIConnectionError,)
    assert issubclass(e.PulseError, Exception)


def test_version() -> None:
    assert isinstance(pulse_async.__version__, str)
    assert pulse_async.__version__[0].isdigit()
