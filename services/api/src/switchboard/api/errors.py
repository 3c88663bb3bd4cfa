"""Domain errors as HTTP answers: not found is 404, a conflict 409, a bad reference 422."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from switchboard.common.errors import ConflictError, InvalidReferenceError, NotFoundError


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _invalid_reference(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidReferenceError)
    detail = [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Register the domain error handlers on ``app``."""
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(InvalidReferenceError, _invalid_reference)
