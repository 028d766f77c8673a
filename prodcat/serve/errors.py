"""How the service answers what went wrong: 413 for too many products, 422 in strict JSON, 499 and 503."""

from __future__ import annotations

import json
import reprlib
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from prodcat.serve.batcher import ClientGone, ServiceClosing
from prodcat.serve.metrics import CLIENT_GONE

ECHO_BYTES = 256  # a 422 echoes an offending input this long at most as sent; a longer one is summarized


def echoed(value: object) -> object:
    """An offending input as a 422 shows it: as sent when it is short strict JSON, else a short Python summary.

    FastAPI echoes inputs as sent; NaN or Infinity (which the JSON parser takes), a lone surrogate or a raw
    body cannot be encoded in the answer, which turned the 422 into a 500.
    """
    with suppress(TypeError, ValueError, RecursionError):
        if len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode()) <= ECHO_BYTES:
            return value
    return reprlib.repr(value)


def client_problem(problem: dict) -> dict:
    """A validation error as the 422 lists it: input and context `echoed`, an error in the context as its message."""
    safe = {**problem, "input": echoed(problem.get("input"))}
    if "ctx" in problem:
        safe["ctx"] = {key: echoed(str(value) if isinstance(value, Exception) else value) for key, value in problem["ctx"].items()}
    return safe


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """A batch over `max_batch` is 413 (too large), not 422 (malformed); other validation errors are 422 in strict JSON."""
    problems = error.errors()
    for problem in problems:
        if problem["type"] == "too_long" and tuple(problem["loc"]) == ("body",):
            most = request.app.state.service.settings.max_batch
            detail = f"at most {most} products per request, got {problem['ctx']['actual_length']}: split the batch"
            return JSONResponse({"detail": detail}, status_code=413)
    return JSONResponse({"detail": [client_problem(problem) for problem in problems]}, status_code=422)


async def client_gone(request: Request, error: ClientGone) -> Response:
    return Response(status_code=CLIENT_GONE)


async def service_closing(request: Request, error: ServiceClosing) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"connection": "close"})


EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    RequestValidationError: invalid_request,
    ClientGone: client_gone,
    ServiceClosing: service_closing,
}
