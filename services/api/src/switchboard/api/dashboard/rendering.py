"""Rendering dashboard pages: the Jinja2 environment and its filters (the security headers are
``dashboard.headers``'s, on every console answer)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
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


_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
_env.filters["when"] = when
_env.filters["seconds"] = seconds
_env.globals["nav"] = NAV
templates = Jinja2Templates(env=_env)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name`` with ``context``."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
