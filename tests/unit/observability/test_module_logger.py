"""Module loggers are bound once per logging configuration, and follow every new one."""

from __future__ import annotations

import io
import logging

import structlog
import structlog.testing

from switchboard.common.logging import configure_logging, get_logger
from tests.support.log_capture import capture_logs


def test_a_logger_made_before_the_configuration_follows_each_new_one() -> None:
    log = get_logger("tests.module_logger")  # as a module does at import, before any run
    configure_logging("WARNING")
    with structlog.testing.capture_logs() as filtered:
        log.info("not.at.warning")
        log.warning("at.warning")
    assert [line["event"] for line in filtered] == ["at.warning"]

    configure_logging("INFO")  # a command configures again before ``run``
    with structlog.testing.capture_logs() as shown:
        log.info("at.info", field=1)
    assert shown == [{"event": "at.info", "field": 1, "log_level": "info"}]


def test_a_capture_that_edits_the_processors_in_place_reaches_a_bound_logger() -> None:
    log = get_logger("tests.module_logger")
    configure_logging("INFO")
    log.info("bound.before.the.capture")
    with capture_logs() as lines:
        log.debug("captured", n=2)
    assert [(line["event"], line["n"]) for line in lines] == [("captured", 2)]


def test_the_bound_logger_is_reused_until_the_configuration_changes() -> None:
    log = get_logger("tests.module_logger")
    configure_logging("INFO")
    first = log._bound()
    assert log._bound() is first  # no logger built per call (~7 µs each, filtered or not)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
    )
    try:
        assert log._bound() is not first
        assert log._bound() is log._bound()
    finally:
        configure_logging("INFO")
