"""No log line shows a body, a transcript, a phone number beyond its last four digits, an
e-mail address, a push key or a secret: our events, stdlib loggers (uvicorn's own handlers
included), Dramatiq's failure lines, tracebacks, and SQLAlchemy's errors."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from switchboard.common.db.engine import make_engine
from switchboard.common.logging import configure_logging, get_logger
from switchboard.common.redaction import scrub

PHONE = "+15557654321"
EMAIL = "dana.smith@example.com"
SAID = "My name is Dana Smith and my card ends in 4242"
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"
PRIVATE = (PHONE, EMAIL, SAID, P256DH, AUTH)


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """``configure_logging`` as a service calls it; the process's logging put back after."""
    factory = logging.getLogRecordFactory()
    hooks = sys.excepthook, threading.excepthook
    configure_logging("INFO", json=True)
    try:
        yield capsys
    finally:
        structlog.reset_defaults()
        logging.setLogRecordFactory(factory)
        sys.excepthook, threading.excepthook = hooks


def _assert_private(text: str) -> None:
    for value in PRIVATE:
        assert value not in text, f"{value!r} in {text!r}"


def test_free_text_keeps_a_phone_number_s_last_four_digits_and_hides_e_mails_and_keys() -> None:
    text = scrub(
        f"call from {PHONE} (whatsapp:{PHONE}, To=%2B15557654321), mail {EMAIL}, "
        f"keys {{'p256dh': '{P256DH}', 'auth': '{AUTH}'}}, db postgresql://app@db.internal/x, "
        f"at 2026-01-01T10:00:00+00:00, job 8c7e4d1c-2f0b-4f8e-9a51-3b8f0e6b6a10"
    )
    _assert_private(text)
    assert text.count("+***4321") == 3
    assert "***@***" in text and "postgresql://app@db.internal/x" in text
    assert "2026-01-01T10:00:00+00:00" in text and "8c7e4d1c-2f0b-4f8e-9a51-3b8f0e6b6a10" in text


def test_our_events_hide_bodies_transcripts_people_and_keys(logs) -> None:
    log = get_logger("switchboard.test")
    log.info(
        "whatsapp.received",
        business_id=7,
        body=SAID,
        from_number=PHONE,
        email=EMAIL,
        subscription={"endpoint": "https://push.example.com/x", "p256dh": P256DH, "auth": AUTH},
        transcript=[{"role": "caller", "text": SAID}],
        error=f"Twilio refused {PHONE}: {EMAIL}",
    )
    try:
        raise ValueError(f"no lead for {PHONE} <{EMAIL}>")
    except ValueError:
        log.exception("lead.failed")

    lines = [json.loads(line) for line in logs.readouterr().err.splitlines()]
    _assert_private(json.dumps(lines))
    received, failed = lines
    assert received["business_id"] == 7 and received["from_number"] == "+***4321"
    assert received["body"] == "***" and received["transcript"] == "***"
    assert received["subscription"]["endpoint"] == "https://push.example.com/x"
    assert "ValueError: no lead for +***4321 <***@***>" in failed["exception"]


def test_stdlib_records_are_scrubbed_whichever_logger_and_handler_print_them(logs) -> None:
    # Like uvicorn's loggers: a handler of their own, not propagating to the root logger.
    stream = io.StringIO()
    logger = logging.getLogger("uvicorn.error.test")
    logger.addHandler(logging.StreamHandler(stream))
    logger.propagate = False
    try:
        logger.warning("payload %s from %r", {"body": SAID, "auth": AUTH}, PHONE)
        logger.warning(f"subscription keys p256dh={P256DH}")
        try:
            raise RuntimeError(f"while storing {EMAIL}")
        except RuntimeError:
            logger.exception("Exception in ASGI application")
    finally:
        logger.handlers.clear()

    text = stream.getvalue()
    _assert_private(text)
    assert "from '+***4321'" in text and "RuntimeError: while storing ***@***" in text


def test_uncaught_exceptions_are_printed_scrubbed(logs) -> None:
    try:
        raise RuntimeError(f"lost {PHONE}")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]

    err = logs.readouterr().err
    assert "RuntimeError: lost +***4321" in err
    _assert_private(err)


def test_dramatiq_s_failure_line_names_the_job_not_its_arguments(
    logs, caplog: pytest.LogCaptureFixture
) -> None:
    broker = StubBroker()

    @dramatiq.actor(broker=broker, actor_name="finalize_test_job", max_retries=0)
    def finalize(*, business_id: int, from_number: str, transcript: str) -> None:
        raise ValueError(f"could not finalize the call from {from_number}")

    message = finalize.send(business_id=7, from_number=PHONE, transcript=SAID)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        with caplog.at_level(logging.WARNING, logger="dramatiq"):
            broker.join(finalize.queue_name, fail_fast=False)
            worker.join()
    finally:
        worker.stop()

    failures = [r for r in caplog.records if r.getMessage().startswith("Failed to process")]
    assert len(failures) == 1
    line = caplog.text
    assert f"finalize_test_job(message_id={message.message_id})" in line
    assert "ValueError: could not finalize the call from +***4321" in line
    _assert_private(line)


def test_a_failing_insert_s_error_names_the_statement_but_not_its_values(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    table = Table(
        "notes", MetaData(), Column("id", Integer, primary_key=True), Column("text", String)
    )
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, text="first"))

    with pytest.raises(IntegrityError) as refused, engine.begin() as connection:
        connection.execute(insert(table).values(id=1, text=SAID))

    assert "INSERT INTO notes" in str(refused.value)
    assert SAID not in str(refused.value)
    engine.dispose()
