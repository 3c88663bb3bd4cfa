"""How many worker processes, and threads per process, one worker may start.

Far above what a machine runs usefully, far below what takes it down: ``--processes
99999999999`` (a few digits too many) forked processes until the machine ran out, none of them
stopping on SIGTERM. A module of its own, with no imports, so the CLI checks ``run --threads``
against it without loading the worker.
"""

from __future__ import annotations

MAX_PROCESSES = 256
MAX_THREADS = 1024
