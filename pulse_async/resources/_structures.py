"""Structure functions built once, so a call pays for no converter look-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pulse_async._core._converter import converter
from pulse_async.models import Message, MessageReceipt, Page, Thread, User

T = TypeVar("T")


def _structure_fn(cls: Any) -> Callable[[Any], Any]:
    hook = converter.get_structure_hook(cls)
    return lambda payload: hook(payload, cls)


STRUCTURE_USER: Callable[[Any], User] = _structure_fn(User)
STRUCTURE_USER_PAGE: Callable[[Any], Page[User]] = _structure_fn(Page[User])
STRUCTURE_RECEIPT: Callable[[Any], MessageReceipt] = _structure_fn(MessageReceipt)
STRUCTURE_MESSAGE: Callable[[Any], Message] = _structure_fn(Message)
STRUCTURE_THREAD_PAGE: Callable[[Any], Page[Thread]] = _structure_fn(Page[Thread])
