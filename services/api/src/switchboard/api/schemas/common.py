"""Shapes every resource shares: errors, ids, phone numbers, pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from switchboard.common.db.keyset import MAX_ID

E164 = r"^\+[1-9]\d{6,14}$"
#: An object id in a request body (the same bounds as an id in a path).
Id = Annotated[int, Field(ge=1, le=MAX_ID, examples=[42])]
Phone = Annotated[str, Field(pattern=E164, examples=["+15551234567"], description="E.164")]

T = TypeVar("T")


def _as_utc(moment: datetime) -> datetime:
    # Every stored time is UTC (SQLite hands them back naive and keeps no offset).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


#: A timestamp in a response or a filter: timezone-aware UTC (naive means UTC).
Timestamp = Annotated[datetime, AfterValidator(_as_utc)]
#: A time a client sets: it must carry its offset, and is stored in UTC.
AwareTimestamp = Annotated[AwareDatetime, AfterValidator(_as_utc)]


class ErrorResponse(BaseModel):
    """Every error: a message, or FastAPI's list of field errors for a 422."""

    detail: str | list[dict[str, object]] = Field(examples=["lead 42 not found"])


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end.", examples=[None]
    )


class Patch(BaseModel):
    """A partial update: only the fields given change; ``null`` only where ``nullable`` says."""

    model_config = ConfigDict(extra="forbid")
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> Patch:
        for name in self.model_fields_set - self.nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self, *, exclude: set[str] | None = None) -> dict[str, object]:
        """The fields the client sent, as column -> value."""
        return self.model_dump(exclude_unset=True, exclude=exclude)
