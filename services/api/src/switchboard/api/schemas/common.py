"""Shapes every resource shares: errors, text, ids, phone numbers, times, pages.

Every value a client sends passes through one of these types, so what the database cannot
hold is refused here, at the edge, with a 422 naming the field: a NUL character (PostgreSQL
text cannot store it), an id beyond BIGINT, an unbounded list of ids, a time that leaves the
calendar once converted to UTC.

Every time a response carries is written as ``common.utc_text`` says
(``2026-12-04T10:00:00.000Z``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from switchboard.common.http_errors import ErrorCode
from switchboard.common.ids import MAX_ID
from switchboard.common.phone import E164 as E164_FORM
from switchboard.common.phone import is_e164
from switchboard.common.utc_text import utc_text

#: The pattern OpenAPI publishes for a phone number (the check is ``is_e164``).
E164 = f"^{E164_FORM.pattern}$"
#: The most ids one request may list (one statement binds them all).
MAX_IDS = 10_000


def storable_text(value: str) -> str:
    """``value`` unchanged, or a validation error if the database could not store it: a NUL
    character, or a lone UTF-16 surrogate (JSON's ``"\\ud800"``), which is not UTF-8."""
    if "\x00" in value:
        raise PydanticCustomError(
            "nul_character", "contains a NUL character (\\u0000), which text cannot hold"
        )
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise PydanticCustomError(
                "lone_surrogate", "contains a lone surrogate (\\ud800-\\udfff), which is not text"
            ) from None
    return value


#: The check of ``Text``, for text that may also be absent and has a length: written after
#: the length, ``Annotated[str, Field(max_length=200), Storable] | None``, the length applies
#: to the string and a 422 says "at most 200 characters" (a ``Text | None`` field's
#: ``Field(max_length=200)`` bounds the optional value, whose message says "items").
Storable = AfterValidator(storable_text)
#: Text a client sends (a body field, a query or path parameter): NUL and lone surrogates
#: are refused.
Text = Annotated[str, Storable]
#: A whole number in a JSON body: a JSON integer, nothing else read as one. Leniently read,
#: ``true`` is 1 and ``"10"``, ``10.0`` and ``"1_0"`` are 10: a client's slip would name
#: another lead, or a count it never meant; each is a 422 naming the field.
Integer = Annotated[int, Strict()]


def _written_in_digits(value: object) -> object:
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError(
            "int_parsing", "Input should be a whole number written in the digits 0-9, like 42"
        )
    return value


#: A whole number in a URL (a path or query parameter) or a console form's field: ASCII digits
#: only, for the same reason as ``Integer`` (``1_0``, ``+1``, `` 1`` and ``1.0`` were read as
#: numbers).
UrlInteger = Annotated[int, BeforeValidator(_written_in_digits)]
#: A yes or no in a JSON body: JSON ``true`` or ``false``, nothing else read as one. Leniently
#: read, ``"false"`` was false but ``"no thanks"`` a 422, and ``1``, ``"on"`` or ``"yes"`` turned
#: a webhook or recording on: each is a 422 naming the field (``bool_type``).
Boolean = Annotated[bool, Strict()]


def _true_or_false(value: object) -> object:
    if isinstance(value, str) and value not in ("true", "false"):
        raise PydanticCustomError("bool_parsing", "Input should be true or false")
    return value == "true" if isinstance(value, str) else value


#: A yes or no in a URL (a query parameter): ``true`` or ``false``, as JSON writes them. Read
#: leniently, ``1``, ``on``, ``yes``, ``t`` and ``Y`` were true too; each is a 422 naming it
#: (``bool_parsing``). Our own clients (the CLI, the console) send no other spelling.
UrlBoolean = Annotated[bool, BeforeValidator(_true_or_false)]
#: An object id in a request body (the same bounds as an id in a path).
Id = Annotated[Integer, Field(ge=1, le=MAX_ID, examples=[42])]
#: A list of object ids in a request body: at least one, at most ``MAX_IDS``.
IdList = Annotated[list[Id], Field(min_length=1, max_length=MAX_IDS, examples=[[1, 2, 3]])]


def e164_phone(value: str) -> str:
    """``value`` unchanged if it is a phone number in E.164 form, else a validation error
    that says so in words (pydantic's own message would quote the regular expression)."""
    if not is_e164(value):
        raise PydanticCustomError(
            "phone_number", "is not a phone number in E.164 form (+15551234567)"
        )
    return value


#: A phone number in E.164 form; the schema still publishes the pattern for clients.
Phone = Annotated[
    str,
    AfterValidator(e164_phone),
    Field(examples=["+15551234567"], description="E.164", json_schema_extra={"pattern": E164}),
]

T = TypeVar("T")


def _as_utc(moment: datetime) -> datetime:
    # Every stored time is UTC (SQLite hands them back naive and keeps no offset).
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise PydanticCustomError(
            "datetime_out_of_range", "falls outside the years 1 to 9999 once converted to UTC"
        ) from None


def _not_a_number(value: object) -> object:
    # pydantic would read 1700000000, -1 or "-1" as seconds since 1970, in UTC: a time a
    # client sends is ISO 8601 text (or, from our own code, a datetime).
    number = isinstance(value, int | float)
    if isinstance(value, str):
        try:
            float(value)
            number = True
        except ValueError:
            pass
    if number:
        raise PydanticCustomError(
            "datetime_type",
            "must be a date and time in ISO 8601 with its offset, like "
            "2031-01-01T09:00:00+02:00, not a number",
        )
    return value


#: ``2030-01-01T09:00:00 02:00``: an offset whose ``+`` a URL's query turned into a space.
_PLUS_AS_SPACE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)? \d{2}(:?\d{2})?$")
#: ``2030-01-01T24:00``: ISO 8601's end of the day, which Python's times do not hold.
_END_OF_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]24:00")


def _time_text_mistakes(value: object) -> object:
    # Two mistakes a client makes in good faith, which the parser would call only
    # "unexpected extra characters": named here, with what to write instead.
    if isinstance(value, str) and _PLUS_AS_SPACE.match(value):
        raise PydanticCustomError(
            "datetime_offset_space",
            "has a space where its offset's + should be: a + in a URL's query string is read "
            "as a space, so write it %2B (2031-01-01T09:00:00%2B02:00)",
        )
    if isinstance(value, str) and _END_OF_DAY.match(value):
        raise PydanticCustomError(
            "datetime_end_of_day",
            "uses 24:00, which is not taken: write 00:00 of the next day",
        )
    return value


_NOT_A_NUMBER = BeforeValidator(_not_a_number)
_TIME_TEXT = BeforeValidator(_time_text_mistakes)
_AS_UTC_TEXT = PlainSerializer(utc_text, return_type=str, when_used="json")
_UTC_TEXT_SCHEMA = WithJsonSchema(
    {"type": "string", "format": "date-time", "examples": ["2026-12-04T10:00:00.000Z"]},
    mode="serialization",
)
#: A timestamp in a response or a filter: timezone-aware UTC (naive means UTC; a number is
#: refused), written as ``utc_text`` says.
Timestamp = Annotated[
    datetime, _NOT_A_NUMBER, _TIME_TEXT, AfterValidator(_as_utc), _AS_UTC_TEXT, _UTC_TEXT_SCHEMA
]
#: A time a client sets: it must carry its offset (text, never a number), and is stored in UTC.
AwareTimestamp = Annotated[
    AwareDatetime,
    _NOT_A_NUMBER,
    _TIME_TEXT,
    AfterValidator(_as_utc),
    _AS_UTC_TEXT,
    _UTC_TEXT_SCHEMA,
]


class FieldError(BaseModel):
    """One reason a request was refused (422), in FastAPI's form."""

    model_config = ConfigDict(extra="allow")  # ``input``, ``ctx``, ``url`` when known

    loc: list[str | int] = Field(examples=[["body", "status"]])
    msg: str = Field(examples=["Input should be 'new', 'contacted', ... or 'lost'"])
    type: str = Field(examples=["literal_error"])


class ErrorResponse(BaseModel):
    """Every error: a code to branch on, and a message or (a 422) the list of field errors."""

    code: ErrorCode = Field(examples=["not_found"])
    detail: str | list[FieldError] = Field(examples=["lead 42 not found"])


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end.", examples=[None]
    )


class RequestBody(BaseModel):
    """Every request body: a field it does not declare is a 422 naming it, never ignored (a
    misspelt ``{"filter": {"staus": "won"}}`` would otherwise select every lead)."""

    model_config = ConfigDict(extra="forbid")


class Patch(RequestBody):
    """A partial update: only the fields given change; ``null`` only where ``nullable`` says."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_null_for_required_fields(cls, value: object, info: ValidationInfo) -> object:
        # Per field, so the 422 names it (``loc`` ``["body", "title"]``, nested ones too), not
        # the whole body. Runs only for the fields given: one left out keeps its value.
        if value is None and info.field_name not in cls.nullable:
            raise PydanticCustomError(
                "null_not_allowed", "cannot be null: leave the field out to keep its value"
            )
        return value

    def changes(self, *, exclude: set[str] | None = None) -> dict[str, object]:
        """The fields the client sent, as column -> value."""
        return self.model_dump(exclude_unset=True, exclude=exclude)
