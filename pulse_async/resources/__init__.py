"""Resources: one small class per API resource, reached as client attributes."""

from pulse_async.resources._base import Requester
from pulse_async.resources.messages import AsyncMessages
from pulse_async.resources.pulsewave import AsyncPulsewaveMessages
from pulse_async.resources.threads import AsyncThreads
from pulse_async.resources.users import AsyncUsers

__all__ = ["AsyncMessages", "AsyncPulsewaveMessages", "AsyncThreads", "AsyncUsers", "Requester"]
