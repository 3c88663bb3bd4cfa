"""A service's start: its imports, with the collector paused and without unused extras.

Two libraries every service imports load optional extras when those are installed (the CLI
installs rich for its tables):

- structlog imports rich (and through it pygments and attrs) to render tracebacks. Ours never
  reach structlog's renderers: ``logging._exception_as_text`` makes them text first.
- httpx imports its command-line client, which loads pygments, rich and click.

Together about 45 ms of every process's start, for code it never runs. :func:`startup_imports`
hides them while a start imports: an ``import rich`` there raises ImportError, which both
libraries take as "not installed". On leaving, they can be imported again (the CLI's console
does when a command prints).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from switchboard.common.startup_heap import collector_paused

#: Imported, when installed, by libraries we use, for features we do not.
UNUSED_EXTRAS = ("rich", "pygments")


@contextmanager
def startup_imports() -> Iterator[None]:
    """Import a service's modules in here: the collector paused (``startup_heap``), and
    :data:`UNUSED_EXTRAS` not importable unless something imported them before.

    Nested uses hide and restore at the outermost.
    """
    hidden = [name for name in UNUSED_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import rich": ImportError
    try:
        with collector_paused():
            yield
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
