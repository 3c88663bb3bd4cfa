"""One value per query parameter, header or form field that takes one: ``?limit=5&limit=500``
is a 422 naming ``limit``, never an answer for one of the two; two ``Idempotency-Key`` headers
a 422 naming the header (a proxy adding its own key would otherwise have the request kept
under one the client never sent, or the client's own retry not recognised).

A query string (or a form) may carry a name more than once, and FastAPI reads the last value
of a parameter declared as one: the client that sent ``limit=5`` first (a link built by
appending, a proxy adding its own) was answered for ``limit=500``, and no one was told. A
parameter declared as a list (``list[str]``) still takes every value given. A form is read
only for a route that has form fields, after FastAPI itself has read it (Starlette keeps it).

One dependency of the whole app (``create_app``) checks every route, from the parameters
FastAPI itself reads for it, a dependency's (``Paging``'s ``limit``) included. It costs a
request one look at its query's names, and more only when a name repeats. What a route checks
before its parameters still answers first: an API key, the admin key or the internal token
(401 or 403, ``deps.BEFORE_BODY``) and a Twilio signature (403, ``twilio_signed``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from collections.abc import Sequence as AnySequence
from collections.abc import Set as AnySet
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from switchboard.api.credentials_first import Check, calls_of
from switchboard.api.deps import BEFORE_BODY
from switchboard.api.routes.whatsapp_webhook import twilio_signed


async def _signed(request: Request) -> None:
    await twilio_signed(request)


#: What a route checks before it reads its parameters, each as it runs on its own.
CHECKED_FIRST: dict[object, Check] = {**BEFORE_BODY, twilio_signed: _signed}


def takes_many(annotation: object) -> bool:
    """FastAPI reads a parameter as a list exactly when its annotation is a sequence or a set
    (``str`` and ``bytes`` are not), optional or annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return takes_many(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return any(takes_many(arg) for arg in get_args(annotation))
    kind = origin or annotation
    return (
        isinstance(kind, type)
        and issubclass(kind, AnySequence | AnySet)
        and not issubclass(kind, str | bytes)
    )


def single_value_params(route: APIRoute) -> list[str]:
    """The names of ``route``'s query parameters that take one value."""
    return _single(get_flat_params(route.dependant), params.Query)


def single_value_headers(route: APIRoute) -> list[str]:
    """The names of ``route``'s headers that take one value (``Idempotency-Key``, ``Range``),
    as FastAPI reads them (``x_thing`` is ``x-thing`` unless aliased)."""
    return [
        field.alias.replace("_", "-")
        if field.field_info.convert_underscores and field.alias == field.name
        else field.alias
        for field in get_flat_params(route.dependant)
        if isinstance(field.field_info, params.Header)
        and not takes_many(field.field_info.annotation)
    ]


def single_value_fields(route: APIRoute) -> list[str]:
    """The names of ``route``'s form fields that take one value."""
    return _single(_body_params(route.dependant), params.Form)


def _body_params(dependant: Dependant) -> list[Any]:
    """The body parameters of ``dependant`` and of its dependencies."""
    found = list(dependant.body_params)
    for dependency in dependant.dependencies:
        found += _body_params(dependency)
    return found


def _single(fields: Iterable[Any], kind: type[params.Param] | type[params.Body]) -> list[str]:
    return [
        field.alias
        for field in fields
        if isinstance(field.field_info, kind) and not takes_many(field.field_info.annotation)
    ]


async def one_value_each(request: Request) -> None:
    """Dependency: a 422 naming each parameter of one value that the query, the headers or the
    form give more than once."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    repeated = _repeated("query", request.query_params.multi_items(), single_value_params, route)
    repeated += _repeated_headers(request.scope["headers"], route)
    fields = single_value_fields(route)
    if fields:
        form = await request.form()  # FastAPI read it already: no second read
        repeated += _repeated("body", form.multi_items(), lambda _: fields, route)
    if not repeated:
        return
    for call in calls_of(route.dependant):
        if call in CHECKED_FIRST:
            await CHECKED_FIRST[call](request)
    raise RequestValidationError(
        [
            {
                "loc": (where, name),
                "msg": f"given more than once ({count} times): send it once",
                "type": "repeated_parameter",
            }
            for where, name, count in repeated
        ]
    )


def _repeated_headers(
    headers: list[tuple[bytes, bytes]], route: APIRoute
) -> list[tuple[str, str, int]]:
    """:func:`_repeated` for the headers a route declares: their names are case-insensitive
    (``Idempotency-Key`` and ``idempotency-key`` are one header), and named as declared."""
    names = [name.lower() for name, _ in headers]
    if len(names) == len(set(names)):
        return []
    given = Counter(names)
    return [
        ("header", name, given[name.lower().encode("latin-1")])
        for name in single_value_headers(route)
        if given[name.lower().encode("latin-1")] > 1
    ]


def _repeated(
    where: str,
    items: Iterable[tuple[str, object]],
    single: Callable[[APIRoute], list[str]],
    route: APIRoute,
) -> list[tuple[str, str, int]]:
    """(where, name, times) of each name of one value given more than once."""
    names = [name for name, _ in items]
    if len(names) == len(set(names)):
        return []  # the usual case: no name repeats, the route's parameters are not looked at
    given = Counter(names)
    return [(where, name, given[name]) for name in single(route) if given[name] > 1]
