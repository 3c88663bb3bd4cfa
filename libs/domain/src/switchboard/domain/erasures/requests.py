"""Recording an erasure request and queueing its job; reading one back; whether a number is
under erasure.

From the commit of its request, a number is under erasure (:func:`under_erasure`) until its
erasure is done: the erasure keeps the number only so long. No item of the person
(``items.py``: it dials the number, or its lead has it) is dialed meanwhile
(``outbound/erased.py``), nor after (they are blanked by then). The request and each dial
serialize on the number's lock (:func:`lock_number`): a dial takes the locks of its item's
numbers shared (its own and its lead's, in order, the lead's row held ``FOR SHARE`` first so
its number stays put), looks for an erasure of either, and holds them until its call is
placed and recorded; the request takes its number's exclusively, and only that one, before it
looks for an unfinished erasure and records its own. Either the dial commits first (the call
went out before the request was accepted, and the erasure then erases it), or the request
does and the dial finds the item the erasure's and places no call. So a request may wait for
a dial of the number under way: one Twilio request, bounded by its timeout. A request holds
one lock and waits for none other, and dials only share theirs: they cannot deadlock.

No lead takes a number under erasure, nor leaves one (``leads/store.py``): a lead created
with it, or changed to it or from it, is refused; the write looks for the erasure under the
number's lock, shared, as a dial does (:func:`erasure_of_number`). A CSV import looks for the
erasures of all its numbers in one query, after its writes (:func:`erasures_of_numbers`), under
the business's import lock rather than a lock per number (thousands of locks would fill the
server's lock table): it holds that lock exclusive for its whole transaction, and a request
takes it shared before its number's (:func:`lock_imports`). Either the import commits first,
and the erasure then erases what it wrote, or the request does, and the import finds it.
Requests share the lock, so they never wait for one another there; a request waits for an
import under way, and an import for the requests under way (each for at most a dial). The
order is the same everywhere (the business's lock, then a number's), and an import takes no
number's lock: no deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import QueryableAttribute, Session

from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import ERASE_PERSON
from switchboard.common.keyed_hash import keyed_hash
from switchboard.common.models import Erasure
from switchboard.common.models.erasures import UNFINISHED_SQL
from switchboard.domain.own_number import NOT_A_PERSON, refuse_own_number

#: Keeps the number's hash apart from any other use of the secret.
_HASH_PURPOSE = b"switchboard erasure phone v1"


def phone_hash(business_id: int, phone: str) -> str:
    """The keyed hash an erasure keeps of its number once done (``common/keyed_hash.py``):
    per business, so two businesses' hashes of one number differ."""
    return keyed_hash(_HASH_PURPOSE, f"{business_id}:{phone}".encode())


def lock_number(session: Session, business_id: int, phone: str, *, shared: bool) -> None:
    """Hold the number's lock until the caller's transaction ends: ``shared`` for a dial, else
    exclusive (a request). Keyed by the keyed hash, so no number reaches the lock table."""
    _lock(session, f"erasure number:{phone_hash(business_id, phone)}", shared=shared)


def lock_imports(session: Session, business_id: int, *, shared: bool) -> None:
    """Hold the business's import lock until the caller's transaction ends: exclusive for a
    CSV import, ``shared`` for a request (before its number's lock)."""
    _lock(session, f"erasure imports:{business_id}", shared=shared)


def _lock(session: Session, key: str, *, shared: bool) -> None:
    """A transaction-level advisory lock on ``key``. PostgreSQL; SQLite has one writer at a
    time already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(text(f"SELECT {function}(hashtextextended(:key, 0))"), {"key": key})


def under_erasure(
    business_id: int,
    persons: Callable[[QueryableAttribute[str | None]], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """Whether an erasure of the business not done yet takes the row ``persons`` says is its
    person's, given the erasure's number (a column; correlated): only an unfinished erasure
    keeps its number."""
    return (
        select(Erasure.id)
        .where(Erasure.business_id == business_id, persons(Erasure.phone))
        .exists()
    )


def erasures_of_numbers(
    session: Session, business_id: int, phones: Collection[str]
) -> dict[str, int]:
    """The ids of the erasures of the business not done yet of any of ``phones``, by number
    (one query, found by their keyed hashes; no lock taken: an import holds
    :func:`lock_imports`)."""
    by_hash = {phone_hash(business_id, phone): phone for phone in phones}
    if not by_hash:
        return {}
    found = session.execute(
        select(Erasure.phone_hash, Erasure.id).where(
            Erasure.business_id == business_id,
            Erasure.phone_hash.in_(list(by_hash)),
            UNFINISHED_SQL,
        )
    )
    return {by_hash[digest]: int(erasure_id) for digest, erasure_id in found}


def erasure_of_number(session: Session, business_id: int, phone: str) -> int | None:
    """The id of the erasure of ``phone`` not done yet, if any, looked for under the
    number's lock taken shared (:func:`lock_number`) and held until the caller's transaction
    ends: a write giving a lead the number, or taking it from one (``leads/store.py``),
    commits before a request for it is accepted, which the erasure then finds, or after, and
    finds it here."""
    lock_number(session, business_id, phone, shared=True)
    return erasures_of_numbers(session, business_id, [phone]).get(phone)


@dataclass(frozen=True)
class Requested:
    """The erasure a request started, or the unfinished one it repeats."""

    erasure: Erasure
    repeated: bool


def _unfinished(session: Session, business_id: int, digest: str) -> Erasure | None:
    return session.execute(
        select(Erasure).where(
            Erasure.business_id == business_id,
            Erasure.phone_hash == digest,
            UNFINISHED_SQL,
        )
    ).scalar_one_or_none()


def request_erasure(business_id: int, phone: str) -> Requested:
    """Record a request to erase ``phone`` and queue its job (one transaction). The
    business's own number is no person's: an ``OwnNumberError`` (422), nothing recorded.

    A repeat while an erasure of the number is still pending or running answers that one:
    its job will erase everything the repeat would. Once done, a new request starts a new
    erasure (the person may have called again since). The job names only the erasure.

    The database holds one unfinished erasure per number and business (migration 0031): of
    two requests at the same instant, which both found none, the second's insert is ignored
    once the first commits, and it answers the first's erasure as a repeat.

    The business's import lock (shared) and the number's lock are taken first
    (:func:`lock_imports`, :func:`lock_number`): an import or a dial under way commits
    first, and once this commits, no import writes the number, nor does a dial call it.
    """
    digest = phone_hash(business_id, phone)
    table: Any = Erasure.__table__
    with tenant_session(business_id) as session:
        refuse_own_number(session, business_id, "phone", phone, NOT_A_PERSON)
        lock_imports(session, business_id, shared=True)  # an import under way goes first
        lock_number(session, business_id, phone, shared=False)  # so does a dial
        while True:
            unfinished = _unfinished(session, business_id, digest)
            if unfinished is not None:
                return Requested(unfinished, repeated=True)
            values = {
                "business_id": business_id,
                "phone": phone,
                "phone_hash": digest,
                "status": "pending",
                "counts": {},
            }
            if insert_ignoring_conflicts(session, table, values):
                break
            # Lost the race: the winner's erasure is committed now; read it (again, should
            # it have been done meanwhile).
        erasure = _unfinished(session, business_id, digest)
        assert erasure is not None  # inserted by this transaction
        erasure.job_id = enqueue(
            ERASE_PERSON, business_id=business_id, erasure_id=erasure.id
        ).job_id
        session.flush()
        return Requested(erasure, repeated=False)


def get_erasure(business_id: int, erasure_id: int) -> Erasure:
    """One erasure of this business (another's is not found)."""
    with tenant_session(business_id) as session:
        return owned_row(session, Erasure, business_id, erasure_id, what="erasure")


def list_erasures(business_id: int, *, limit: int = 50, after: int | None = None) -> Page[Erasure]:
    """This business's erasures, newest first."""
    query = select(Erasure).where(Erasure.business_id == business_id)
    with tenant_session(business_id) as session:
        return fetch_page(session, query, Erasure.id, limit=limit, after=after)
