"""The console's errors as pages: a person who followed a link with a bad value (``?state=x``,
a run id that is not a number or not theirs) reads, in the console's layout, what was wrong,
where (which parameter, what it may be) and a link back, under the same status the API would
answer (422, 404, 400, ...). An htmx request gets the same text as a fragment (``_error.html``)
that replaces what asked for it (``HX-Reswap``, ``HX-Reselect``; base.html lets htmx swap a
4xx), as every htmx answer of the console is a fragment (``dashboard.htmx``).

The error itself (status, detail, headers) stays the app's handlers' (``api.errors``): each is
wrapped, and only its JSON body is written again as HTML, for a console page. The JSON API,
the console's JSON feed (:data:`JSON_FEEDS`) and the answers below 300 are left as they were.
A redirect raised as an error (the login page's, ``session.require_login``) is sent to a
browser with no JSON body either: a line of HTML linking where it goes
(:func:`redirect_page`).
"""

from __future__ import annotations

import html
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from switchboard.api.dashboard.console import layout, section
from switchboard.api.dashboard.headers import is_console
from switchboard.api.dashboard.htmx import is_htmx
from switchboard.api.dashboard.rendering import page
from switchboard.api.dashboard.session import is_logged_in, read_session
from switchboard.common.settings import get_settings

#: Console paths that answer JSON to the console's own script, errors included.
JSON_FEEDS = "/dashboard/api/"
#: What a field error's ``loc`` starts with, as a person reads it.
WHERE = {
    "query": "query parameter",
    "path": "in the address",
    "body": "form field",
    "header": "header",
    "cookie": "cookie",
}
#: How the fragment replaces the element whose htmx request failed, whatever it selects.
FRAGMENT_SWAP = {"HX-Reswap": "outerHTML", "HX-Reselect": ".console-error"}
#: The headers of the JSON answer that describe its body, not the error.
_BODY_HEADERS = frozenset({"content-type", "content-length"})

Handler = Callable[[Request, Exception], Any]


def answers_pages(path: str) -> bool:
    """``path`` is a console page's (or form's, or file's): its errors are HTML."""
    return is_console(path) and not path.startswith(JSON_FEEDS)


@dataclass(frozen=True)
class Problem:
    """One refused parameter: its name, where it was, the value given, what it may be."""

    name: str
    where: str
    given: str | None
    allowed: str


def printable(value: object) -> str:
    """``value`` as text a page can hold: JSON unless a string, a lone surrogate (which a
    form may carry and UTF-8 cannot encode) written as its escape."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problems(detail: list[Any]) -> list[Problem]:
    """FastAPI's field errors, one row per parameter: a union's members each refuse the
    value, and their reasons are said together."""
    reasons: dict[tuple[str, str], list[str]] = {}
    given: dict[tuple[str, str], str | None] = {}
    for error in detail:
        if not isinstance(error, dict) or not error.get("loc"):
            continue
        loc = [str(part) for part in error["loc"]]
        key = (WHERE.get(loc[0], loc[0]), loc[1] if len(loc) > 1 else loc[0])
        value = error.get("input")
        given.setdefault(key, None if value is None else printable(value))
        reason = printable(error.get("msg", "not accepted"))
        if reason not in reasons.setdefault(key, []):
            reasons[key].append(reason)
    return [
        Problem(name, where, given[(where, name)], "; or ".join(said))
        for (where, name), said in reasons.items()
    ]


def _back(path: str, refused: list[Problem]) -> str:
    # Only the query was wrong: the same page without it; else the section's list.
    if refused and all(problem.where == WHERE["query"] for problem in refused):
        return path
    return section(path)[0]


def _chrome(request: Request) -> dict[str, Any]:
    """base.html's context: the logged-in business and its navigation, or none."""
    session = read_session(request, get_settings())
    if session is None or not is_logged_in(session):
        return {"business": None}
    return layout(session, section(request.url.path)[0])


async def error_page(request: Request, answer: Response) -> Response:
    """The app's JSON error ``answer`` to ``request``, as a console page (or htmx fragment)."""
    status = answer.status_code
    try:
        detail = json.loads(bytes(answer.body))["detail"]
    except (ValueError, KeyError, TypeError):
        detail = None
    refused = problems(detail) if isinstance(detail, list) else []
    path = request.url.path
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    context = {
        "status": status,
        "title": title,
        "detail": printable(detail) if detail is not None and not refused else None,
        "problems": refused,
        "back": _back(path, refused),
        "back_label": section(path)[1],
    }
    headers = {k: v for k, v in answer.headers.items() if k not in _BODY_HEADERS}
    if is_htmx(request):
        fragment = page(request, "_error.html", status, **context)
        fragment.headers.update({**FRAGMENT_SWAP, **headers})
        return fragment
    # A server error may be the database away: the page is not made to ask it who is logged in.
    chrome = await run_in_threadpool(_chrome, request) if status < 500 else {"business": None}
    whole = page(request, "error.html", status, **chrome, **context)
    whole.headers.update(headers)
    return whole


def redirect_page(answer: Response) -> Response:
    """The app's redirect ``answer`` (its JSON body ``{"code", "detail"}``, for the API's
    clients), as a browser's: the same status and headers (``Location``), and for a body a
    line of HTML linking where it goes, as a browser shows when it does not follow."""
    location = answer.headers.get("location", "")
    body = (
        f'<!doctype html>\n<title>Redirect</title>\n<p><a href="{html.escape(location)}">'
        f"{html.escape(location)}</a></p>\n"
    )
    headers = {k: v for k, v in answer.headers.items() if k not in _BODY_HEADERS}
    return HTMLResponse(body, answer.status_code, headers=headers)


def as_page(handler: Handler) -> Callable[[Request, Exception], Awaitable[Any]]:
    """``handler``, whose error answers to a console page are written as HTML (a redirect's
    too: :func:`redirect_page`)."""

    async def answer(request: Request, exc: Exception) -> Any:
        response = handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        if (
            request.scope["type"] != "http"
            or not isinstance(response, Response)
            or not answers_pages(request.url.path)
        ):
            return response
        if response.status_code >= 400:
            return await error_page(request, response)
        if response.status_code >= 300:
            return redirect_page(response)
        return response

    return answer


def install_console_errors(app: FastAPI) -> None:
    """Each error handler ``app`` has (install after them), with console errors as pages."""
    for key, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(key, as_page(handler))
