"""The two ways an outside-world call can fail, shared by every integration port.

Each port module subclasses these with its own names (``TwilioRetryableError`` …), so an actor
can catch the family it cares about while the job system only needs the two bases (it fails a
job that raises :class:`PermanentIntegrationError` without retrying, ``jobs/errors.py``).
"""

from __future__ import annotations


class IntegrationError(Exception):
    """A call to an outside service failed."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class RetryableIntegrationError(IntegrationError):
    """Worth trying again later: network trouble, a 5xx, or being rate limited (429)."""


class PermanentIntegrationError(IntegrationError):
    """Trying again cannot help (bad number, bad credentials, refused address): fail the job."""
