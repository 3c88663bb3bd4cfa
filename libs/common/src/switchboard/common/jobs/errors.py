"""Exceptions that tell the job system how a job ended."""

from __future__ import annotations

from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.errors import PermanentIntegrationError


class PermanentJobError(Exception):
    """The job can never succeed (bad input, another tenant's object): fail it, do not retry."""


class JobCancelled(Exception):  # noqa: N818 - reads as an event, like Dramatiq's SkipMessage
    """The job saw that it was cancelled and stopped."""


class UnknownActorError(ValueError):
    """``enqueue`` was given an entry that differs from the catalog's entry of that name."""


#: What a job can raise that retrying cannot help: the job fails at once. Besides the job
#: system's own error, another tenant's or a missing row, and an outside service's refusal.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    PermanentJobError,
    NotFoundError,
    PermanentIntegrationError,
)
