"""Request dependencies: the caller's business, admin and internal authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from switchboard.common.logging import bind_in_scope
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.businesses.accounts import business_for_api_key

_bearer = HTTPBearer(auto_error=False)
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


def current_business_id(credentials: Credentials) -> int:
    """The business whose API key authorised this request."""
    business_id = business_for_api_key(_token(credentials))
    if business_id is None:
        raise _unauthorized("invalid or revoked API key")
    bind_in_scope(business_id=business_id)  # the request's later lines and its access line
    return business_id


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


CurrentBusiness = Annotated[int, Depends(current_business_id)]
AdminOnly = Depends(require_admin)
InternalOnly = Depends(require_internal)
