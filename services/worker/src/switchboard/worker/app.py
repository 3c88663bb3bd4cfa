"""The module Dramatiq's worker imports: installs the broker and declares every actor."""

from __future__ import annotations

from switchboard.common.jobs.broker import use_broker
from switchboard.common.logging import configure_logging
from switchboard.common.settings import get_settings
from switchboard.worker.runtime.broker import worker_broker

settings = get_settings()
configure_logging(settings.log_level, settings.log_json)
broker = use_broker(worker_broker(settings))

import switchboard.worker.actors  # noqa: E402,F401 - declares the actors on the broker
