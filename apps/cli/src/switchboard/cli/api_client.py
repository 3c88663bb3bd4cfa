"""Talking to a Switchboard API over HTTP for the admin commands (works against any deployment)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from switchboard.cli.exit_codes import FAILED, REFUSED, for_status
from switchboard.cli.output import one_line_text
from switchboard.common.redaction import redact

err = Console(stderr=True)
#: The most items the API returns in one page.
PAGE_LIMIT = 200
#: What an answer the API would never give means (``--api-url`` names another server).
NOT_THE_API = "is --api-url the Switchboard API's address?"
#: What a server built on Starlette (the API, the gateway) says of a path no route serves; the
#: API's own 404s name what they did not find (``job 3f2a… not found``).
NO_ROUTE = "Not Found"
#: What an API key can be sent as: visible ASCII, no spaces (the keys are ``sbk_`` and base64).
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")

ApiUrl = typer.Option(
    "http://127.0.0.1:8000", "--api-url", envvar="API_BASE_URL", help="The API's base URL."
)
ApiKey = typer.Option(
    ..., "--api-key", envvar="SWITCHBOARD_API_KEY", help="The business's API key (sbk_...)."
)


def require_url(url: str, option: str) -> None:
    """Exit 2 with one line unless ``url`` is an http:// or https:// URL naming a host;
    ``option`` names where it came from (``--api-url / API_BASE_URL``). httpx's InvalidURL
    (``http://[::1``, ``http://h:80x``) is no transport error: it was a traceback; a URL
    without a scheme (``bad``, ``localhost:8000``) was sent, and "cannot reach", exit 1."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        fail(f"{redact(url)} is not a URL: {exc} (check {option})", REFUSED)
    if parsed.scheme not in ("http", "https"):
        fail(f"{redact(url)} is not a URL: it needs http:// or https:// (check {option})", REFUSED)
    if not parsed.host:
        fail(f"{redact(url)} is not a URL: it names no host (check {option})", REFUSED)


def say_error(message: str) -> None:
    """Print ``error: message`` in red on one line of stderr. The message may quote the API,
    a file or a value given: brackets in it are text, not rich markup, and its control
    characters are written out (``output.one_line_text``: an id a 404 echoes, holding ESC
    sequences, drove the terminal)."""
    said = escape(one_line_text(message))
    err.print(f"[red]error:[/red] {said}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print ``error: message`` (:func:`say_error`) and exit with ``code`` (``exit_codes``: 1
    the operation failed, 2 the command as given is refused, 130 interrupted)."""
    say_error(message)
    raise typer.Exit(code)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail", response.text)
    except (ValueError, AttributeError):
        # Not the API's JSON: another server's page says nothing to the point, a proxy's
        # line of text may ("Bad Gateway"), on one line.
        if response.headers.get("content-type", "").startswith("text/html"):
            return f"an HTML page: {NOT_THE_API}"
        said = " ".join(response.text.split())[:200] or response.reason_phrase
        return f"{said}: {NOT_THE_API}" if response.status_code == 404 else said
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in detail
        )
    if response.status_code == 404 and (detail == NO_ROUTE or "code" not in body):
        # No route has the path (the gateway's port, another app), or not the API's body.
        return f"{detail}: {NOT_THE_API}"
    return str(detail)


class ApiClient:
    """A few JSON calls with the business's key; any error response ends the command clearly."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        # ``http``: an already-open client (the tests pass the API's in-process TestClient).
        if not _KEY_CHARS.fullmatch(api_key):
            # httpx refuses it as a header ("cannot reach the API", quoting the key) or ends in
            # a traceback (a byte not UTF-8); the key is a secret, never printed.
            what = (
                "empty"
                if not api_key
                else "not one: it holds a space, a control or a non-ASCII character"
            )
            fail(f"the API key is {what} (check --api-key / SWITCHBOARD_API_KEY)", REFUSED)
        require_url(base_url, "--api-url / API_BASE_URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._owns_http = http is None
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self._http.headers["Authorization"] = f"Bearer {api_key}"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        if self._owns_http:
            self._http.close()

    def request(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request (waiting ``timeout`` s for it, else the client's); connection
        problems end the command with the URL in the message."""
        waited = timeout or self.timeout
        if timeout is not None:  # else the client's own (a TestClient takes none)
            kwargs["timeout"] = timeout
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ReadTimeout:
            # Reached, and it may still be at work (a replay of many events, a bulk action):
            # "cannot reach" would invite the same request again at once.
            fail(
                f"the API at {redact(self.base_url)} did not answer {method} {path} within "
                f"{waited:g} s; it may still be doing it: check before trying again"
            )
        except httpx.HTTPError as exc:
            where = redact(self.base_url)
            fail(f"cannot reach the API at {where}: {exc} (check --api-url)")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a successful response; otherwise print the API's reason and exit."""
        return self.json_of(self.request(method, path, **kwargs))

    @staticmethod
    def json_of(response: httpx.Response) -> Any:
        """The JSON of a successful response; otherwise print the API's reason and exit with
        ``exit_codes.for_status``: 2 for the API's 4xx (the request is refused as given), else 1.
        """
        if response.is_error:
            # The API's refusals are JSON; a page or a proxy's line of text comes from another
            # server (a mistaken --api-url, a proxy in the way): the API was not reached.
            by_the_api = response.headers.get("content-type", "").startswith("application/json")
            code = for_status(response.status_code) if by_the_api else FAILED
            if response.status_code == 401:
                fail("the API key was refused (check --api-key / SWITCHBOARD_API_KEY)", code)
            asked = f"{response.request.method} {response.request.url.path}"
            fail(f"{asked} → {response.status_code}: {_detail(response)}", code)
        request = response.request
        asked = f"{request.method} {request.url.path}"
        if response.is_redirect:
            # The API never redirects: another server (an http → https hop, a login page).
            fail(
                f"{asked} → {response.status_code}, sent on to "
                f"{response.headers.get('location', '?')}: {NOT_THE_API}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            fail(f"{asked} → {response.status_code}, not JSON: {NOT_THE_API}")

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Each page's items of a paginated list in turn, following ``next_cursor``."""
        cursor: str | None = None
        while True:
            page = self.call(
                "GET", path, params={**params, **({"cursor": cursor} if cursor else {})}
            )
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                fail(f"GET {path}: the answer is not a page of items: {NOT_THE_API}")
            yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def items(self, path: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` items of a paginated list (newest first), over as many pages."""
        found: list[dict[str, Any]] = []
        for page in self.pages(path, {**params, "limit": min(limit, PAGE_LIMIT)}):
            found.extend(page)
            if len(found) >= limit:
                break
        return found[:limit]
