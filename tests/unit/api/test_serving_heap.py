"""The API collects rarely once it serves (``switchboard.common.startup_heap``)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.settings import Settings
from switchboard.common.startup_heap import SERVING_THRESHOLDS


def test_the_api_raises_the_collectors_thresholds_when_it_starts(embedded: Settings) -> None:
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults, as a new process has them
    try:
        with TestClient(create_app(embedded)):
            assert gc.get_threshold() == SERVING_THRESHOLDS
    finally:
        gc.set_threshold(*thresholds)
