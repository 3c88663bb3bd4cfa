"""Errors the domain services raise; the API turns them into HTTP answers.

A job that raises :class:`NotFoundError` fails at once, without retrying (``jobs/errors.py``).

Another business's object is always :class:`NotFoundError`, never a "forbidden": a caller must
not be able to tell that an id exists.
"""

from __future__ import annotations


class NotFoundError(LookupError):
    """No such object for this business (HTTP 404)."""


class ConflictError(ValueError):
    """The change would break a uniqueness or state rule (HTTP 409)."""


class InvalidReferenceError(ValueError):
    """The request names a related object this business does not have, or a value this
    business cannot take (HTTP 422 naming ``field``; ``kind`` is the error's ``type``)."""

    def __init__(self, field: str, message: str, *, kind: str = "value_error") -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind
