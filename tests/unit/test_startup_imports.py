"""A service's start imports without the extras it never uses
(``switchboard.common.startup_imports``)."""

from __future__ import annotations

import json
import subprocess
import sys

_SERVICES = (
    "switchboard.cli.main",
    "switchboard.worker.runner",
    "switchboard.worker.app",
    "switchboard.api.app",
    "switchboard.voice_gateway.app",
    "switchboard.scheduler.app",
)


def _run(probe: str) -> subprocess.CompletedProcess[str]:
    """``probe`` in a new interpreter (nothing imported yet), with a broker configured."""
    env = {"PATH": "/usr/bin:/bin", "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"}
    return subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )


def test_the_services_start_without_rich_or_pygments_and_they_are_importable_after() -> None:
    # structlog (tracebacks) and httpx (its command-line client) load both when installed.
    probe = (
        "import json, sys\n"
        "from switchboard.common.startup_imports import UNUSED_EXTRAS, startup_imports\n"
        "with startup_imports():\n"
        f"    import {', '.join(_SERVICES)}\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in UNUSED_EXTRAS)\n"
        "import rich.console, pygments\n"  # the CLI's console, when a command prints
        "print(json.dumps({'loaded': loaded, 'after': 'rich.console' in sys.modules}))\n"
    )
    result = json.loads(_run(probe).stdout.strip().splitlines()[-1])

    assert result == {"loaded": [], "after": True}


def test_nested_starts_hide_until_the_outermost_ends() -> None:
    probe = (
        "import sys\n"
        "from switchboard.common.startup_imports import startup_imports\n"
        "with startup_imports():\n"
        "    with startup_imports():\n"
        "        pass\n"
        "    try:\n"
        "        import rich\n"
        "    except ImportError:\n"
        "        print('hidden inside')\n"
        "import rich\n"
        "print('importable after', rich.__name__)\n"
    )
    assert _run(probe).stdout.splitlines() == ["hidden inside", "importable after rich"]


def test_an_extra_imported_before_the_start_stays_as_it_was() -> None:
    probe = (
        "import sys\n"
        "import rich\n"
        "from switchboard.common.startup_imports import startup_imports\n"
        "with startup_imports():\n"
        "    import rich as again\n"
        "print(again is rich, sys.modules['rich'] is rich)\n"
    )
    assert _run(probe).stdout.split() == ["True", "True"]


def test_a_traceback_is_still_logged_whole_without_rich() -> None:
    # structlog without rich falls back to its plain formatter; ours turns tracebacks into
    # text before any renderer, in the console and in JSON alike.
    probe = (
        "from switchboard.common.startup_imports import startup_imports\n"
        "with startup_imports():\n"
        "    from switchboard.common.logging import configure_logging, get_logger\n"
        "for json_lines in (False, True):\n"
        "    configure_logging('INFO', json=json_lines)\n"
        "    try:\n"
        "        raise ValueError('the probe failed')\n"
        "    except ValueError:\n"
        "        get_logger('probe').exception('probe.failed')\n"
    )
    stderr = _run(probe).stderr

    assert stderr.count("probe.failed") == 2
    assert stderr.count("Traceback (most recent call last)") == 2
    assert stderr.count("ValueError: the probe failed") == 2
