"""The collector around a service's start (``switchboard.common.startup_heap``)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from switchboard.common import startup_heap
from switchboard.common.startup_heap import SERVING_THRESHOLDS, collector_paused, tune_for_serving


class _Cycle:
    """An object that refers to itself: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    """Each test's freezes and thresholds undone, the collector left on, as pytest had it."""
    thresholds = gc.get_threshold()
    gc.enable()
    gc.unfreeze()
    yield
    gc.enable()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_nothing_is_collected_inside_and_what_was_made_is_frozen_on_leaving() -> None:
    before = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        made = [_Cycle() for _ in range(1_000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(made)
    alive = [weakref.ref(cycle) for cycle in made]
    del made
    # Frozen: a full collection no longer looks at those cycles, so it frees none of them.
    gc.collect()
    assert all(ref() is not None for ref in alive)


def test_nested_uses_resume_only_at_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            pass
        # The inner one neither froze nor resumed: the outer start is still importing.
        assert not gc.isenabled()
        assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_collector_switched_off_by_the_caller_stays_off_and_nothing_is_frozen() -> None:
    gc.disable()
    before = gc.get_freeze_count()
    with collector_paused():
        [_Cycle() for _ in range(100)]
    assert not gc.isenabled()
    assert gc.get_freeze_count() == before


def test_the_collector_resumes_when_the_start_fails() -> None:
    with pytest.raises(ImportError), collector_paused():
        import switchboard.no_such_module  # type: ignore[import-not-found] # noqa: F401
    assert gc.isenabled()


def test_a_server_tuned_for_serving_collects_rarely_and_keeps_its_start_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in a new process: no app of an earlier test has frozen this one's heap yet.
    monkeypatch.setattr(startup_heap, "_frozen_after_collection", False)
    gc.set_threshold(700, 10, 10)
    made = [_Cycle() for _ in range(100)]
    tune_for_serving()
    assert gc.get_threshold() == SERVING_THRESHOLDS
    assert gc.get_freeze_count() >= len(made)


def test_the_switchboard_command_loads_with_the_collector_paused_and_leaves_it_on() -> None:
    """The console script's entry (``switchboard.cli.__main__:main``), in a new interpreter."""
    code = (
        "import gc, json, sys\n"
        "sys.argv = ['switchboard', '--help']\n"
        "from switchboard.cli.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(json.dumps([gc.isenabled(), gc.get_freeze_count()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    enabled, frozen = json.loads(done.stderr.strip().splitlines()[-1])
    assert enabled is True
    # typer, pydantic, the settings and logging: tens of thousands of objects, frozen.
    assert frozen > 30_000
