"""Outbound call runs (campaigns): creating, starting, cancelling, driving and progress.

``runs`` creates, lists, starts and cancels runs; ``driver`` places a run's calls under a lease
(``lease``), claiming and dialing each within the caps (``dialing``) and looking up at Twilio
the dials that never heard back (``unheard``), closing instead the items of a person under
erasure (``erased``); ``calls`` moves an item on Twilio's call status; ``closing`` settles
the calls in flight of a run that ended (cancelled, or failed); ``progress`` derives a run's
progress from its items; ``active_runs`` lists the runs that are really active; ``scheduled``
declares the domain's periodic jobs (resuming runs whose driver died, or closing them, and
having ended runs' calls settled).
"""

from switchboard.domain.outbound.active_runs import active_runs
from switchboard.domain.outbound.calls import ItemNotFoundError, apply_call_status
from switchboard.domain.outbound.dialing import CallUrls, DialRetries
from switchboard.domain.outbound.driver import drive_run
from switchboard.domain.outbound.runs import (
    NewRun,
    RunView,
    cancel_run,
    create_run,
    enqueue_driver,
    get_run,
    list_items,
    list_runs,
    start_run,
)

__all__ = [
    "CallUrls",
    "DialRetries",
    "ItemNotFoundError",
    "NewRun",
    "RunView",
    "active_runs",
    "apply_call_status",
    "cancel_run",
    "create_run",
    "drive_run",
    "enqueue_driver",
    "get_run",
    "list_items",
    "list_runs",
    "start_run",
]
