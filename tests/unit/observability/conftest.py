"""JSON logging as a service configures it (``tests/support/json_logs.py``)."""

from __future__ import annotations

from tests.support.json_logs import JsonLines, json_lines

__all__ = ["JsonLines", "json_lines"]
