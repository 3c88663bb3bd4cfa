"""Exceptions that tell the job system how a job ended."""

from __future__ import annotations


class PermanentJobError(Exception):
    """The job can never succeed (bad input, another tenant's object): fail it, do not retry."""


class JobCancelled(Exception):  # noqa: N818 - reads as an event, like Dramatiq's SkipMessage
    """The job saw that it was cancelled and stopped."""


class UnknownActorError(ValueError):
    """``enqueue_job`` was given an actor or queue the catalog does not know."""
