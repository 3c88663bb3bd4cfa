"""With LOG_JSON=true every line is one JSON object: libraries' lines too, scrubbed, and
carrying the fields bound for the work they belong to."""

from __future__ import annotations

import contextvars
import logging
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import structlog

from switchboard.common.logging import bind_in_scope, configure_logging, get_logger, log_scope

from .conftest import JsonLines

PHONE = "+15557654321"


def test_a_library_logger_s_line_is_json_with_its_name_level_and_scrubbed_text(
    json_lines: JsonLines,
) -> None:
    logging.getLogger("aio_pika.robust_connection").warning("reconnecting for %s", PHONE)

    (line,) = json_lines()
    assert line["logger"] == "aio_pika.robust_connection"
    assert line["level"] == "warning"
    assert line["event"] == "reconnecting for +***4321"
    assert line["timestamp"].endswith("Z")


def test_a_library_s_traceback_is_a_scrubbed_field_of_its_json_line(json_lines: JsonLines) -> None:
    try:
        raise RuntimeError(f"refused {PHONE}")
    except RuntimeError:
        logging.getLogger("dramatiq.worker").exception("Failed to process message")

    (line,) = json_lines()
    assert line["level"] == "error"
    assert "RuntimeError: refused +***4321" in line["exception"]
    assert PHONE not in line["exception"]


def test_library_lines_carry_the_fields_bound_for_the_work(json_lines: JsonLines) -> None:
    with structlog.contextvars.bound_contextvars(request_id="r-1"), log_scope(call_sid="CA1"):
        logging.getLogger("aio_pika.robust_connection").info("Connection attempt 1")
        get_logger("switchboard.test").info("ours")

    library, ours = json_lines()
    for line in (library, ours):
        assert line["request_id"] == "r-1" and line["call_sid"] == "CA1"


def test_a_field_bound_in_a_worker_thread_reaches_the_scope_s_later_lines(
    json_lines: JsonLines,
) -> None:
    log = get_logger("switchboard.test")
    with log_scope(request_id="r-2"), ThreadPoolExecutor(1) as pool:
        # FastAPI runs a plain dependency in a thread, with a copy of the request's context.
        pool.submit(contextvars.copy_context().run, bind_in_scope, business_id=7).result()
        log.info("after the dependency")
    log.info("after the request")

    inside, outside = json_lines()
    assert inside["business_id"] == 7 and inside["request_id"] == "r-2"
    assert "business_id" not in outside and "request_id" not in outside


def test_warnings_and_uncaught_exceptions_are_json_lines_too(json_lines: JsonLines) -> None:
    warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    try:
        raise ValueError(f"lost {PHONE}")
    except ValueError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]

    warned, uncaught = json_lines()
    assert warned["logger"] == "py.warnings" and "deprecated thing" in warned["event"]
    assert uncaught["event"] == "uncaught_exception" and uncaught["level"] == "critical"
    assert "ValueError: lost +***4321" in uncaught["exception"]


def test_pika_s_routine_steps_are_left_out_at_info_and_its_warnings_kept(
    json_lines: JsonLines,
) -> None:
    pika = logging.getLogger("pika.adapters.utils.connection_workflow")
    try:
        pika.info("Streaming transport linked up")
        # (A connection's failures are told as the broker's outage: test_broker_outage.py.)
        logging.getLogger("pika.channel").warning("Received remote Channel.Close (406)")
        assert [line["event"] for line in json_lines()] == ["Received remote Channel.Close (406)"]

        configure_logging("DEBUG", json=True)
        pika.info("Streaming transport linked up")
        assert [line["event"] for line in json_lines()] == ["Streaming transport linked up"]
    finally:
        logging.getLogger("pika").setLevel(logging.NOTSET)


def _stderr_after_configuring_logging(code: str) -> str:
    """What ``code`` writes on stderr in a new interpreter whose logging is configured as a
    service's at INFO (libraries' handlers as deployed, not this test process's capture)."""
    preamble = (
        "from switchboard.common.logging import configure_logging\nconfigure_logging('INFO')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", preamble + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stderr


def test_alembic_s_plugin_setup_is_left_out_at_info() -> None:
    """Importing Alembic (``switchboard migrate``, ``make run``'s first start) logged one
    "setup plugin …" line per built-in plugin, at INFO, before the migrations' own lines."""
    stderr = _stderr_after_configuring_logging(
        "import alembic.command\n"
        "import logging; logging.getLogger('alembic.runtime.migration').info('Running upgrade')\n"
    )
    assert "setup plugin" not in stderr
    assert "Running upgrade" in stderr, "Alembic's migration lines are kept"


def test_a_library_s_message_over_several_lines_is_one_line() -> None:
    """Alembic's "Running upgrade 0018 -> 0019, …" carries the migration's docstring: its
    later lines came out without time, level or logger (`make run`'s first start)."""
    stderr = _stderr_after_configuring_logging(
        "import logging\n"
        "logging.getLogger('alembic.runtime.migration').info(\n"
        "    'Running upgrade 0018 -> 0019, A failed execution leaves its traceback,\\n'\n"
        "    'and a worker heartbeat its threads.')\n"
    )
    [line] = stderr.splitlines()
    assert "Running upgrade 0018 -> 0019, A failed execution leaves its traceback, and a" in line
    assert line.endswith("[alembic.runtime.migration]")
