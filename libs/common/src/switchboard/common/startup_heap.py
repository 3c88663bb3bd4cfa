"""The garbage collector while a service starts, and the heap it leaves.

A service's imports (SQLAlchemy and the mapped models, pydantic, FastAPI, Dramatiq…) make
some 200,000 objects that live as long as the process, and next to no garbage: about 1,200
objects for the worker's. With the collector on, its full passes walk all of them again and
again while they load (two to four passes of 20–60 ms, 0.1–0.15 s of a worker's start), and
a last pass to find that little garbage would cost as much again (~0.1 s).

:func:`collector_paused` collects nothing while a start imports and builds; on leaving, the
objects made so far are frozen (:func:`gc.freeze`): no later collection walks them, and a
process forked from this one (Dramatiq's worker processes) does not write to their pages,
the use Python's documentation gives for ``freeze``. :func:`freeze_startup_heap` is for a
process whose start was not paused (uvicorn's spawned API workers, tests): one collection,
then the same freeze.

:func:`tune_for_serving` is for the HTTP servers once they serve. With Python's default
thresholds a young collection runs every 700 objects made and not yet freed; under load those
are mostly the requests in flight, so each collection walks them, moves them to an older
generation, and the older collections follow. Under the WhatsApp webhook's closed loop
(128 connections) that was 5–7 % of the API's CPU (about 1.1 s of collections over 6,000
runs, against 0.02 s with the thresholds below), and on the gateway a pause in every call's
audio. Raised, collections run rarely and find the in-flight objects already freed; cyclic
garbage waits longer (at most the threshold's worth of objects) before it is freed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_frozen_after_collection = False
#: The collector's thresholds once a server serves (Python's defaults: 700, 10, 10).
SERVING_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No collection inside; on leaving, freeze every object made so far and turn the
    collector back on.

    Nested uses resume at the outermost. If the collector was already off (the caller's
    choice), nothing is frozen and it stays off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def freeze_startup_heap() -> None:
    """Once per process: collect, then keep what is left out of every later collection.

    After a paused start this collection walks only what was made since (the rest is
    frozen already), so it is short either way.
    """
    global _frozen_after_collection
    if not _frozen_after_collection:
        gc.collect()
        gc.freeze()
        _frozen_after_collection = True


def tune_for_serving() -> None:
    """Freeze what the start left (:func:`freeze_startup_heap`) and raise the collector's
    thresholds to :data:`SERVING_THRESHOLDS`."""
    freeze_startup_heap()
    gc.set_threshold(*SERVING_THRESHOLDS)
