"""Command-line options several benchmarks share."""

from __future__ import annotations

import argparse


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """``--log-level``: the measured services' ``LOG_LEVEL``. ``WARNING`` (the default, as every
    figure in docs/benchmarks.md was measured) leaves the log lines out; ``INFO`` is what a
    deployment runs, a line or two per request and per job."""
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="the measured services' LOG_LEVEL (INFO: as deployed, with their log lines)",
    )


def positive_seconds(text: str) -> float:
    """An option's value in seconds, more than zero (a figure per second divides by it)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return seconds
