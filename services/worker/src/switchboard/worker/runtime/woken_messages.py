"""A woken job's message: the option that says which attempt its reserved slot is for.

When a freed slot wakes a parked job (``fair_share.py``), the slot is reserved for the job's
attempt at that moment. Its message carries that attempt (option :data:`WOKEN`, the message's
``retries`` when it woke), so a delivery can tell whether the reservation is its own: the
woken publication's first delivery starts in it without asking, a redelivery of it asks the
ledger first, and a retry's copy (``Retries`` counted a failed attempt since) is not the
reservation's.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Message

#: The option a woken job is published with: the attempt its slot is reserved for.
WOKEN = "fair_share_slot"


def woken_message(payload: str) -> Message[Any]:
    """A woken job's stored message, its slot reserved for its current attempt."""
    message = Message.decode(str(payload).encode())
    # Its own options (decoded just now): set in place, not copied (``dataclasses.replace``
    # per woken job showed in a py-spy profile of a drain).
    message.options[WOKEN] = message.options.get("retries", 0)
    return message


def reserved_for_its_attempt(message: Message[Any]) -> Message[Any]:
    """A copy of the message whose reservation is for the attempt it runs next: a held job run
    again after ``Retries`` counted a failed attempt (``woken_here.held_again``)."""
    return message.copy(options={WOKEN: message.options.get("retries", 0)})


def of_woken_publication(message: Any) -> bool:
    """A delivery of a woken job's publication (or of a copy of it the ledger published again),
    for the attempt it was woken for: the slot reserved when it was woken is its own."""
    return bool(message.options.get(WOKEN) == message.options.get("retries", 0))


def retry_of_woken(message: Any) -> bool:
    """A retry's copy of a woken job's failed attempt (``Retries`` counted it after it woke)."""
    woken_for = message.options.get(WOKEN)
    return isinstance(woken_for, int) and message.options.get("retries", 0) > woken_for


def first_woken_delivery(message: Any) -> bool:
    """The first delivery of a woken job's publication: it starts in its reserved slot without
    asking. A redelivery or a copy published again asks (the job may run elsewhere), and
    a retry's copy takes a slot as any other delivery."""
    return (
        of_woken_publication(message)
        and getattr(message, "redelivered", True) is False
        and not message.options.get("republished")
    )
