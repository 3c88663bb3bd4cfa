"""Rendering dashboard pages: the Jinja2 environment and its filters (the security headers are
``dashboard.headers``'s, on every console answer)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from switchboard.api.dashboard.console import NAV

HERE = Path(__file__).parent
STATIC = HERE / "static"


def when(moment: datetime | None) -> str:
    """A stored (UTC) time for people: ``2026-01-31 14:05 UTC``."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: float | None) -> str:
    """A duration for people: ``0.42 s``, ``12 s``, ``3 m 04 s``."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.0f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} m {rest:02d} s"


#: The bidi controls that open an embedding or override (LRE, RLE, LRO, RLO) and an isolate
#: (LRI, RLI, FSI), and what closes each: PDF and PDI.
_PDF, _PDI = "\u202c", "\u2069"
_CLOSER = dict.fromkeys("\u202a\u202b\u202d\u202e", _PDF) | dict.fromkeys(
    "\u2066\u2067\u2068", _PDI
)
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def bidi_closed(text: str) -> str:
    """``text`` with the bidi embeddings, overrides and isolates it leaves open closed at its
    end (as Unicode's bidi algorithm matches them), so that a right-to-left override in a
    name reverses the name only, never what the page writes after it."""
    if _BIDI.search(text) is None:
        return text
    still_open: list[str] = []
    for char in text:
        if char in _CLOSER:
            still_open.append(_CLOSER[char])
        elif char == _PDF and still_open[-1:] == [_PDF]:
            still_open.pop()
        elif char == _PDI and _PDI in still_open:  # closes the embeddings inside it too
            while still_open.pop() != _PDI:
                pass
    return text + "".join(reversed(still_open))


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` a template writes (text or attribute): a text is
    :func:`bidi_closed`; what a filter made markup (``tojson``) is left as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return bidi_closed(value)
    return value


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(),
    finalize=_finalize,
)
_env.filters["when"] = when
_env.filters["seconds"] = seconds
_env.globals["nav"] = NAV
templates = Jinja2Templates(env=_env)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name`` with ``context``."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
