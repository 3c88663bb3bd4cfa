"""Talking to a Switchboard API over HTTP for the admin commands (works against any deployment)."""

from __future__ import annotations

from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console

err = Console(stderr=True)

ApiUrl = typer.Option(
    "http://localhost:8000", "--api-url", envvar="API_BASE_URL", help="The API's base URL."
)
ApiKey = typer.Option(
    ..., "--api-key", envvar="SWITCHBOARD_API_KEY", help="The business's API key (sbk_...)."
)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` in red on stderr and exit with ``code``."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in detail
        )
    return str(detail)


class ApiClient:
    """A few JSON calls with the business's key; any error response ends the command clearly."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; connection problems end the command with the URL in the message."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the API at {self.base_url}: {exc} (check --api-url)")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a successful response; otherwise print the API's reason and exit."""
        return self.json_of(self.request(method, path, **kwargs))

    @staticmethod
    def json_of(response: httpx.Response) -> Any:
        """The JSON of a successful response; otherwise print the API's reason and exit."""
        if response.status_code == 401:
            fail("the API key was refused (check --api-key / SWITCHBOARD_API_KEY)")
        if response.is_error:
            request = response.request
            fail(
                f"{request.method} {request.url.path} → {response.status_code}: {_detail(response)}"
            )
        return response.json() if response.content else None
