"""One shape for every refusal: `{"detail": [{"loc": [...], "msg": ...}]}` naming the field.

The domain errors (`hotline.domain_errors`: NotFound 404, NotYours 403, Closed and Conflict 409,
Invalid 422) are mapped to their status and that body here, once for every service
(`install_error_handlers`): a use case raises them, no route builds an error response itself.

FastAPI answers a body it cannot even decode (not UTF-8) with a bare 400 string, and fails with a
500 when a refused body held NaN, Infinity or a lone surrogate (`"\ud800"`): JSON that Python
reads but will not write back in the error's `input`. These handlers give both the shape of
every other refusal.
"""

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from hotline.domain_errors import DomainError


def install_error_handlers(app: FastAPI) -> None:
    """Answer domain errors, HTTP errors and invalid requests on `app` in the one error shape."""
    app.add_exception_handler(DomainError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]


def error_body(loc: list[str], msg: str) -> dict[str, Any]:
    """The body of a refusal about one field."""
    return {"detail": [{"loc": loc, "msg": msg}]}


async def domain_error(_request: Request, exc: DomainError) -> Response:
    """A domain error as its status, naming the field and the reason."""
    return JSONResponse(error_body(exc.loc, exc.reason), status_code=exc.status)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """A 400 about the body names the body; everything else as FastAPI answers it."""
    if exc.status_code == 400 and isinstance(exc.detail, str) and "body" in exc.detail.lower():
        return JSONResponse(error_body(["body"], "the body is not valid JSON in UTF-8"),
                            status_code=400, headers=getattr(exc, "headers", None))
    return await http_exception_handler(request, exc)


def _writable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf: JSON has no such numbers
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate ("\ud800") becomes "?"
    if isinstance(value, dict):
        return {_writable(k): _writable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_writable(v) for v in value]
    return value


async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 (`loc`, `msg`, `type`, `input`), with what JSON in UTF-8 cannot hold replaced."""
    return JSONResponse({"detail": _writable(jsonable_encoder(exc.errors()))}, status_code=422)
