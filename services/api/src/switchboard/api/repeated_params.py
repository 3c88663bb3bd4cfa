"""One value per query parameter that takes one: ``?limit=5&limit=500`` is a 422 naming
``limit``, never an answer for one of the two.

A query string may carry a name more than once, and FastAPI reads the last value of a
parameter declared as one: the client that sent ``limit=5`` first (a link built by appending,
a proxy adding its own) was answered for ``limit=500``, and no one was told. A parameter
declared as a list (``list[str]``) still takes every value given.

One dependency of the whole app (``create_app``) checks every route, from the parameters
FastAPI itself reads for it, a dependency's (``Paging``'s ``limit``) included. It costs a
request one look at its query's names, and more only when a name repeats. What a route checks
before its parameters still answers first: an API key, the admin key or the internal token
(401 or 403, ``deps.BEFORE_BODY``) and a Twilio signature (403, ``twilio_signed``).
"""

from __future__ import annotations

from collections import Counter

from fastapi import Request, params
from fastapi._compat import field_annotation_is_sequence
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


def single_value_params(route: APIRoute) -> list[str]:
    """The names of ``route``'s query parameters that take one value: FastAPI reads a
    parameter as a list exactly when its annotation is a sequence (``str`` is not one)."""
    return [
        field.alias
        for field in get_flat_params(route.dependant)
        if isinstance(field.field_info, params.Query)
        and not field_annotation_is_sequence(field.field_info.annotation)
    ]


async def one_value_each(request: Request) -> None:
    """Dependency: a 422 naming each parameter of one value that the query gives twice."""
    names = [name for name, _ in request.query_params.multi_items()]
    if len(names) == len(set(names)):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    given = Counter(names)
    repeated = [name for name in single_value_params(route) if given[name] > 1]
    if not repeated:
        return
    for call in calls_of(route.dependant):
        if call in CHECKED_FIRST:
            await CHECKED_FIRST[call](request)
    raise RequestValidationError(
        [
            {
                "loc": ("query", name),
                "msg": f"given more than once ({given[name]} times): send it once",
                "type": "repeated_parameter",
            }
            for name in repeated
        ]
    )
