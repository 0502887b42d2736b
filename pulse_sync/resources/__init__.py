"""Sync resources: one-line wrappers over :mod:`pulse_async.resources`, same signatures."""

from pulse_sync.resources.messages import Messages
from pulse_sync.resources.pulsewave import PulsewaveMessages
from pulse_sync.resources.threads import Threads
from pulse_sync.resources.users import Users

__all__ = ["Messages", "PulsewaveMessages", "Threads", "Users"]
