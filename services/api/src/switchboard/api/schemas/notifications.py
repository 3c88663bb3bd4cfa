"""Reminders and Web Push subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from switchboard.api.schemas.common import (
    AwareTimestamp,
    Id,
    Page,
    Patch,
    RequestBody,
    Storable,
    Text,
    Timestamp,
)
from switchboard.domain.notifications import push_keys
from switchboard.domain.notifications.statuses import REMINDER_STATUSES


class ReminderBase(BaseModel):
    title: Text = Field(min_length=1, max_length=200, examples=["Call Jane back"])
    note: Annotated[str, Field(max_length=10_000), Storable] | None = None
    lead_id: Id | None = None


class ReminderCreate(ReminderBase, RequestBody):
    due_at: AwareTimestamp = Field(examples=["2030-01-01T09:00:00Z"])


class ReminderUpdate(Patch):
    """Only the fields given change; ``null`` clears the note or the lead. A sent reminder
    given a new ``due_at`` (a snooze) is pending again, and pushed at that time, unless the
    same request sets its ``status``."""

    nullable = frozenset({"note", "lead_id"})

    title: Annotated[str, Field(min_length=1, max_length=200), Storable] | None = None
    note: Annotated[str, Field(max_length=10_000), Storable] | None = None
    lead_id: Id | None = None
    due_at: AwareTimestamp | None = None
    status: Literal["pending", "done", "cancelled"] | None = None


class ReminderPublic(ReminderBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    due_at: Timestamp
    status: str = Field(examples=["pending"], description=", ".join(REMINDER_STATUSES))
    sent_at: Timestamp | None
    created_at: Timestamp


class ReminderPage(Page[ReminderPublic]):
    pass


def _checked(problem: Callable[[str], str | None]) -> AfterValidator:
    def check(value: str) -> str:
        why = problem(value)
        if why is not None:
            raise PydanticCustomError("push_key", why)
        return value

    return AfterValidator(check)


_P256DH_EXAMPLE = (
    "BGUvyTV_ePyDFhU7HiP198ttN0k0sOg7xz0h8zataY5dzHXBpr1Lb48MFewEpt9c2YNkKassVdPp0pOXo0d5aeY"
)
#: A browser's push public key: base64url of an uncompressed P-256 point.
PublicKey = Annotated[
    str,
    Field(max_length=200, examples=[_P256DH_EXAMPLE]),
    Storable,
    _checked(push_keys.p256dh_problem),
]
#: A browser's push authentication secret: base64url of 16 bytes.
AuthSecret = Annotated[
    str,
    Field(max_length=100, examples=["tBHItJI5svbpez7KI4CCXg"]),
    Storable,
    _checked(push_keys.auth_problem),
]


class PushKeys(RequestBody):
    """The browser's keys, base64url: its P-256 public key and its authentication secret."""

    p256dh: PublicKey
    auth: AuthSecret


class PushSubscriptionCreate(RequestBody):
    """A browser's ``PushSubscription.toJSON()``, plus an optional label."""

    endpoint: Text = Field(
        pattern=r"^https://\S+$",
        max_length=1000,
        examples=["https://fcm.googleapis.com/fcm/send/abc123"],
    )
    keys: PushKeys
    expirationTime: float | None = Field(  # noqa: N815 - the browser's own name for it
        None, description="As the browser gives it; not used (the push service says when)"
    )
    label: Annotated[str, Field(max_length=100), Storable] | None = Field(
        None, examples=["Front desk"]
    )


class PushSubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint: str
    label: str | None
    created_at: Timestamp


class PushSubscriptionPage(Page[PushSubscriptionPublic]):
    pass
