"""A worker module whose processes die as they boot, before they report ready to Dramatiq's
main process: ``switchboard worker tests.support.boot_crash`` (a job that kills its process
in the moment between the consumers starting and the ready report does the same)."""

from __future__ import annotations

import os
import signal
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from switchboard.common.jobs.broker import get_broker


class DieOnBoot(Middleware):
    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


get_broker().add_middleware(DieOnBoot())
