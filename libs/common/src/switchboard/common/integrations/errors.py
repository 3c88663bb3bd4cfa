"""The two ways an outside-world call can fail, shared by every integration port.

Each port module subclasses these with its own names (``TwilioRetryableError`` …), so an actor
can catch the family it cares about while the job system only needs the two bases (it fails a
job that raises :class:`PermanentIntegrationError` without retrying, ``jobs/errors.py``).
"""

from __future__ import annotations


class IntegrationError(Exception):
    """A call to an outside service failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        unsent: bool = False,
    ):
        super().__init__(message)
        #: The service's HTTP status; None when no answer came.
        self.status = status
        self.code = code
        #: The request never left (connection refused, name unresolved, connect timeout):
        #: nothing happened at the service, so trying again cannot do anything twice.
        self.unsent = unsent

    @property
    def outcome_known(self) -> bool:
        """The service answered, or never got the request: nothing is left to look up."""
        return self.status is not None or self.unsent


class RetryableIntegrationError(IntegrationError):
    """Worth trying again later: network trouble, a 5xx, or being rate limited (429)."""


class PermanentIntegrationError(IntegrationError):
    """Trying again cannot help (bad number, bad credentials, refused address): fail the job."""
