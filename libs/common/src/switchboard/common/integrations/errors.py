"""The two ways an outside-world call can fail, shared by every integration port.

Each port module subclasses these with its own names (``TwilioRetryableError`` …), so an actor
can catch the family it cares about while the job system only needs the two bases (it fails a
job that raises :class:`PermanentIntegrationError` without retrying, ``jobs/errors.py``).
"""

from __future__ import annotations

#: The server errors that say the request was not carried out (503 Service Unavailable).
REFUSED_5XX = frozenset({503})


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
        """The service said it did nothing (a 4xx, 429 included, or 503), or never got the
        request: nothing is left to look up.

        A 500, 502 or 504 is no such answer: a server (or the gateway in front of it) can fail
        after the request was carried out, so, like a dropped connection, it leaves the outcome
        to be looked up before anything is tried again.
        """
        if self.unsent:
            return True
        return self.status is not None and (self.status < 500 or self.status in REFUSED_5XX)


class RetryableIntegrationError(IntegrationError):
    """Worth trying again later: network trouble, a 5xx, or being rate limited (429)."""


class PermanentIntegrationError(IntegrationError):
    """Trying again cannot help (bad number, bad credentials, refused address): fail the job."""
