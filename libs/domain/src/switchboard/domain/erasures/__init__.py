"""Erasure requests (GDPR art. 17): everything a business holds about one phone number.

``requests`` records a request and queues its job, in one transaction; ``job`` erases the
person's data kind by kind, each kind's deletion and its count in one transaction, so a
redelivered job finishes what a dead worker left and counts nothing twice.
"""

from switchboard.domain.erasures.job import ERASED_KINDS, run_erasure
from switchboard.domain.erasures.requests import (
    get_erasure,
    list_erasures,
    request_erasure,
)

__all__ = ["ERASED_KINDS", "get_erasure", "list_erasures", "request_erasure", "run_erasure"]
