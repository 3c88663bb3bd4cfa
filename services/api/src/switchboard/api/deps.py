"""Request dependencies: the caller's business, admin and internal authentication.

Each also runs before the request's body is read (``BEFORE_BODY``, which
``api.credentials_first`` calls): a request without valid credentials is refused without its
body being read or checked. The API key's business is looked up once per request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from switchboard.common.logging import bind_in_scope
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.businesses.accounts import live_api_key


class _OneBearer(HTTPBearer):
    """``Authorization: Bearer <key>``, given once: two ``Authorization`` headers are a 401
    (was: the first one was taken, so a request carrying a valid key and another was let in or
    refused by the order of its headers)."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        if sum(name == b"authorization" for name, _ in request.scope["headers"]) > 1:
            raise _unauthorized(
                "Authorization given more than once: send one 'Authorization: Bearer <key>'"
            )
        return await super().__call__(request)


_bearer = _OneBearer(auto_error=False)
#: Where a request keeps its API key's business, and the key's id, once looked up.
_BUSINESS = "switchboard.business_id"
_API_KEY = "switchboard.api_key_id"
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _settings() -> Settings:
    # Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop
    # every request would pay for reading a cached object.
    return get_settings()


SettingsDep = Annotated[Settings, Depends(_settings)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return credentials.credentials


def current_business_id(request: Request, credentials: Credentials) -> int:
    """The business whose API key authorised this request."""
    known = request.scope.get(_BUSINESS)
    if isinstance(known, int):  # looked up before the body was read
        return known
    found = live_api_key(_token(credentials))
    if found is None:
        raise _unauthorized("invalid or revoked API key")
    api_key_id, business_id = found
    bind_in_scope(business_id=business_id)  # the request's later lines and its access line
    request.scope[_BUSINESS], request.scope[_API_KEY] = business_id, api_key_id
    return business_id


def current_api_key_id(
    request: Request, business_id: Annotated[int, Depends(current_business_id)]
) -> int:
    """The id of the API key (of ``current_business_id``'s business) that authorised this
    request: the member whose browser a push subscription is."""
    return int(request.scope[_API_KEY])


def _same_secret(given: str, expected: str) -> bool:
    # As bytes: a header may carry any Latin-1 character, and compare_digest refuses
    # non-ASCII str.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def require_admin(credentials: Credentials, settings: SettingsDep) -> None:
    """Only ADMIN_API_KEY may pass."""
    if not _same_secret(_token(credentials), settings.admin_api_key):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admin API key required")


def require_internal(credentials: Credentials, settings: SettingsDep) -> None:
    """Only INTERNAL_API_TOKEN (the gateway and other services) may pass."""
    if not _same_secret(_token(credentials), settings.internal_api_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="internal token required")


async def _business_first(request: Request) -> None:
    await run_in_threadpool(current_business_id, request, await _bearer(request))


async def _admin_first(request: Request) -> None:
    require_admin(await _bearer(request), get_settings())


async def _internal_first(request: Request) -> None:
    require_internal(await _bearer(request), get_settings())


#: Each authentication dependency as it runs before the body is read: it raises what the
#: dependency would raise.
BEFORE_BODY: dict[object, Callable[[Request], Awaitable[None]]] = {
    current_business_id: _business_first,
    require_admin: _admin_first,
    require_internal: _internal_first,
}

CurrentBusiness = Annotated[int, Depends(current_business_id)]
CurrentApiKey = Annotated[int, Depends(current_api_key_id)]
AdminOnly = Depends(require_admin)
InternalOnly = Depends(require_internal)
