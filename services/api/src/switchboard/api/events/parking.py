"""Parked call events: what the consumer could not handle, kept in ``parked_events``.

An event is parked when its body is not a call event, when the handler refuses it for good
(``NotFoundError``: a call sid another business has, a business that does not exist), or when
the handler still fails after the consumer's retries. The row keeps the body as it arrived (for
the replay) and the last error, with tokens, call sids, phone numbers and e-mail addresses
masked: operators see the error, the type, the id and a masked call sid, never what was said or
who called. Parking is an upsert on the event id, so an event parked twice (redelivered before
its acknowledgement) is one row.

Replaying runs the handler again, one event per transaction, oldest first: a success deletes
the row, and the handler's dedup keys (the event id) make a second success a no-op; a failure
records its error and keeps the row. The row is locked while its handler runs, so two replays
never run one event at the same time.

An event whose facts no row can hold as they read (a call sid too long for its column or with
a NUL, a business id past BIGINT: the database refuses the row, a data error no retry
changes) is parked again without them: its id (or its body's hash), its type if it is one,
the facts that fit, and the body whole, so it stays listed and replayable rather than being
retried for ever. The database away is not such an error: it reaches the consumer, which
tries the event again later.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.events import EVENT_TYPES, EventBase, parse_event
from switchboard.common.ids import MAX_ID
from switchboard.common.logging import get_logger, redact
from switchboard.common.models import ParkedEvent

log = get_logger(__name__)

Handler = Callable[[Any], object]
MAX_ERROR_CHARS = 300
#: The metric's label for a body whose type is not a known event type (or that has none).
OTHER_TYPE = "unreadable"
_SID = re.compile(r"\b([A-Z]{2})[0-9a-fA-F]{28}([0-9a-fA-F]{4})\b")
_PHONE = re.compile(r"\+\d{4,13}(\d{2})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
#: Control characters (a NUL above all: PostgreSQL text cannot hold it) in an error's text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: What a row refuses to hold, for good: the database's data errors (a value too long, out of
#: range, a NUL) and what a driver refuses before sending (SQLite's ``OverflowError`` on an
#: integer past 64 bits, psycopg's ``ValueError`` on a NUL).
UNSTORABLE_ERRORS: tuple[type[Exception], ...] = (
    DataError,
    IntegrityError,
    OverflowError,
    ValueError,
)
#: The columns' limits (``ParkedEvent``): a fact past them is dropped, not stored.
_MAX_EVENT_ID, _MAX_TYPE, _MAX_CALL_SID = 80, 40, 64


def mask_call_sid(call_sid: str | None) -> str | None:
    """``CA`` + the last four characters: enough to tell calls apart, not to look one up."""
    if not call_sid:
        return call_sid
    return f"{call_sid[:2]}…{call_sid[-4:]}" if len(call_sid) > 8 else "…"


def for_operators(text: str) -> str:
    """Free text (an error) with secrets, Twilio sids, phone numbers and e-mails masked."""
    text = _SID.sub(r"\1…\2", redact(text))
    text = _EMAIL.sub("***@***", text)
    return _PHONE.sub(r"+…\1", text)


def describe_error(exc: BaseException) -> str:
    """What went wrong, for the row and the dashboard: no input values, no SQL parameters."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            ": ".join(filter(None, (".".join(map(str, error["loc"])), error["msg"])))
            for error in exc.errors(include_input=False, include_url=False)
        )
        text = f"ValidationError: {problems}"
    elif isinstance(exc, StatementError) and exc.orig is not None:
        # The driver's message without SQLAlchemy's statement and parameters; its first line
        # only (PostgreSQL's DETAIL repeats the values).
        first_line = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        text = f"{type(exc).__name__} ({type(exc.orig).__name__}): {first_line}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _CONTROL.sub("\ufffd", for_operators(text))[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class BodyFacts:
    """What can be read from a body, even one that is not a valid event."""

    event_id: str
    event_type: str | None
    business_id: int | None
    call_sid: str | None


def read_facts(body: bytes, event: EventBase | None = None) -> BodyFacts:
    """The event's id, type, business and call sid; an unreadable body's id is its hash."""
    if event is not None:
        return BodyFacts(
            event.event_id, event.type, event.business_id, getattr(event, "call_sid", None)
        )
    try:
        raw = json.loads(body)
    except ValueError:
        raw = None
    fields: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def text(key: str, limit: int) -> str | None:
        value = fields.get(key)
        return value[:limit] if isinstance(value, str) and value else None

    business_id = fields.get("business_id")
    return BodyFacts(
        event_id=text("event_id", 80) or "sha256:" + hashlib.sha256(body).hexdigest()[:40],
        event_type=text("type", 40),
        business_id=business_id if type(business_id) is int and business_id > 0 else None,
        call_sid=text("call_sid", 64),
    )


def _fits(text: str | None, limit: int) -> bool:
    return text is not None and 0 < len(text) <= limit and text.isascii() and text.isprintable()


def storable_facts(body: bytes, facts: BodyFacts) -> BodyFacts:
    """``facts`` without what no row holds: an id that does not fit is the body's hash, a type
    that is none of ours, a business id past BIGINT and a call sid that does not fit are
    dropped."""
    business_id = facts.business_id
    return BodyFacts(
        event_id=(
            facts.event_id
            if _fits(facts.event_id, _MAX_EVENT_ID)
            else "sha256:" + hashlib.sha256(body).hexdigest()[:40]
        ),
        event_type=facts.event_type if facts.event_type in EVENT_TYPES else None,
        business_id=business_id if business_id is not None and 0 < business_id <= MAX_ID else None,
        call_sid=facts.call_sid if _fits(facts.call_sid, _MAX_CALL_SID) else None,
    )


def park(body: bytes, error: BaseException, event: EventBase | None = None) -> BodyFacts:
    """Keep the event with its error; committed when this returns (parking it again updates).
    Facts no row can hold are dropped (``storable_facts``) rather than the event lost."""
    facts = read_facts(body, event)
    described = describe_error(error)
    try:
        _store(body, facts, described)
    except UNSTORABLE_ERRORS as refused:
        facts = storable_facts(body, facts)
        described = f"{described} [parked without its facts: {type(refused).__name__}]"
        _store(body, facts, described[:MAX_ERROR_CHARS])
        log.error(
            "call_event.parked_without_facts",
            event_id=facts.event_id,
            type=facts.event_type,
            refused=type(refused).__name__,
        )
    log.error(
        "call_event.parked",
        event_id=facts.event_id,
        type=facts.event_type,
        business_id=facts.business_id,
        error=described,
    )
    return facts


def _store(body: bytes, facts: BodyFacts, described: str) -> None:
    now = utcnow()
    with system_session() as session:
        dialect = session.get_bind().dialect.name
        builder = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = builder(ParkedEvent).values(
            event_id=facts.event_id,
            event_type=facts.event_type,
            event_business_id=facts.business_id,
            call_sid=facts.call_sid,
            body=body,
            error=described,
            failures=1,
            parked_at=now,
            failed_at=now,
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[ParkedEvent.event_id],
                set_={
                    "error": described,
                    "failures": ParkedEvent.failures + 1,
                    "failed_at": now,
                },
            )
        )


@dataclass(frozen=True)
class ParkedEventView:
    """A parked event as operators see it: no body, the call sid masked."""

    id: int
    event_id: str
    event_type: str | None
    business_id: int | None
    call_sid: str | None
    error: str
    failures: int
    parked_at: datetime
    failed_at: datetime


def _view(row: ParkedEvent) -> ParkedEventView:
    return ParkedEventView(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        business_id=row.event_business_id,
        call_sid=mask_call_sid(row.call_sid),
        error=row.error,
        failures=row.failures,
        parked_at=row.parked_at,
        failed_at=row.failed_at,
    )


def count_parked(business_id: int | None = None) -> int:
    """How many events are parked (those naming ``business_id``, if given)."""
    query = select(func.count()).select_from(ParkedEvent)
    if business_id is not None:
        query = query.where(ParkedEvent.event_business_id == business_id)
    with system_session() as session:
        return int(session.execute(query).scalar_one())


def list_parked(business_id: int | None = None, *, limit: int = 100) -> list[ParkedEventView]:
    """Parked events, newest first (those naming ``business_id``, if given)."""
    query = select(ParkedEvent).order_by(ParkedEvent.id.desc()).limit(limit)
    if business_id is not None:
        query = query.where(ParkedEvent.event_business_id == business_id)
    with system_session() as session:
        return [_view(row) for row in session.execute(query).scalars()]


@dataclass
class ReplayReport:
    """What a replay did: the events handled (rows deleted) and those that failed again."""

    replayed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _replay_one(parked_id: int, handler: Handler, report: ReplayReport) -> None:
    with system_session() as session:
        row = session.execute(
            select(ParkedEvent).where(ParkedEvent.id == parked_id).with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if row is None:  # replayed meanwhile, or another replay holds it
            return
        try:
            handler(parse_event(row.body))
        except Exception as exc:
            row.error = describe_error(exc)
            row.failures += 1
            row.failed_at = utcnow()
            report.failed.append((row.event_id, row.error))
            log.warning("call_event.replay_failed", event_id=row.event_id, error=row.error)
            return
        session.delete(row)
        report.replayed.append(row.event_id)
        log.info("call_event.replayed", event_id=row.event_id, type=row.event_type)


def replay_parked(
    handler: Handler, *, parked_id: int | None = None, limit: int = 100
) -> ReplayReport:
    """Run ``handler`` again on parked events (one, or up to ``limit``), oldest first."""
    query = select(ParkedEvent.id).order_by(ParkedEvent.id).limit(limit)
    if parked_id is not None:
        query = query.where(ParkedEvent.id == parked_id)
    with system_session() as session:
        ids = list(session.execute(query).scalars())
    report = ReplayReport()
    for one in ids:
        _replay_one(one, handler, report)
    return report


class ParkedEventsCollector(Collector):
    """``switchboard_parked_events``: parked call events by type, read at scrape time."""

    #: The ``source`` label of ``switchboard_metrics_source_up``.
    source = "parked_events"

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "switchboard_parked_events",
            "Call events the consumer could not handle, waiting to be replayed",
            labels=["type"],
        )
        counts = dict.fromkeys((*EVENT_TYPES, OTHER_TYPE), 0)
        query = select(ParkedEvent.event_type, func.count()).group_by(ParkedEvent.event_type)
        with system_session() as session:
            for event_type, count in session.execute(query):
                label = event_type if event_type in EVENT_TYPES else OTHER_TYPE
                counts[label] += int(count)
        for label, count in counts.items():
            gauge.add_metric([label], count)
        yield gauge
