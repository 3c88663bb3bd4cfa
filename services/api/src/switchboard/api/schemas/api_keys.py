"""API keys of a business (admin): issue, list, revoke. A key itself is shown once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from switchboard.api.schemas.common import RequestBody, Text, Timestamp


class ApiKeyCreate(RequestBody):
    name: Text = Field(default="default", min_length=1, max_length=100, examples=["zapier"])


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeyIssued(ApiKeyPublic):
    api_key: str = Field(description="Shown once; store it now. The other keys keep working.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]
