"""Every error answer of the sidecar has one shape: ``{"detail": "<sentence>", "errors": [...]}``.

Why: ``.detail`` used to be a string for some errors and FastAPI's list of field errors for
others, so ``curl … | jq -r .detail`` printed a sentence or a JSON array depending on the
mistake. Now ``detail`` is always one sentence (what the operators' scripts print) and
``errors`` lists each invalid input of a 422 (``loc``, ``msg``, ``type``, ``input``), empty for
every other error. A 409 adds ``kind``, ``id`` and ``dagster_url`` of the running sync.
A 4xx never repeats more than a short excerpt of the input (SPEC §5).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .models import Error

log = logging.getLogger(__name__)

#: Longest excerpt of a client's input that a 4xx answer repeats.
EXCERPT_CHARS = 80
#: At most this many field errors are described in ``detail`` (all are listed in ``errors``).
DETAIL_ERRORS = 5


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> Any:
    """``value`` when its JSON is short, else the start of its JSON text and its length.

    Used on the ``input`` of validation errors: a wrong-typed 60 KiB body must not come back
    whole. The work is bounded because bodies are (``MAX_BODY_BYTES``) and so are headers."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return value
    return f"{text[:limit]}… ({len(text)} chars)"


def error_body(detail: str, errors: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The body of an error answer (validated against ``Error``, the documented shape)."""
    return Error.model_validate({"detail": detail, "errors": list(errors)}).model_dump(mode="json")


def error_response(status: int, detail: str, errors: Iterable[Mapping[str, Any]] = (),
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(detail, errors), headers=dict(headers or {}))


def field_errors(raw: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors with each ``input`` (and context value) cut to a short excerpt."""
    errors = []
    for error in raw:
        item = {k: error[k] for k in ("loc", "msg", "type") if k in error}
        item["loc"] = [excerpt(part) for part in item.get("loc", ())]
        item["msg"] = excerpt(str(item.get("msg", "")), 4 * EXCERPT_CHARS)
        if "input" in error:
            item["input"] = excerpt(error["input"])
        if isinstance(error.get("ctx"), dict):
            item["ctx"] = {k: excerpt(v if isinstance(v, str | int | float | bool) else str(v))
                           for k, v in error["ctx"].items()}
        errors.append(jsonable_encoder(item))
    return errors


def summary(errors: list[dict[str, Any]]) -> str:
    """One sentence for ``detail``: each error's place and message."""
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
             for e in errors[:DETAIL_ERRORS]]
    more = f" (and {len(errors) - DETAIL_ERRORS} more)" if len(errors) > DETAIL_ERRORS else ""
    return "invalid input: " + "; ".join(parts) + more


def _path(request: Request) -> str:
    return str(excerpt(request.url.path))


async def invalid_input(_: Request, exc: Exception) -> JSONResponse:
    """422: every invalid input in ``errors``, and in words in ``detail``."""
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return error_response(422, summary(errors), errors)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Any HTTPException (ours, and routing's 404/405) in the one shape, its headers kept."""
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(jsonable_encoder(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and "Allow" in headers:
        detail = f"Method Not Allowed: {request.method} {_path(request)} accepts {headers['Allow']}"
    elif exc.status_code == 404 and detail == "Not Found":
        detail = f"Not Found: no endpoint at {_path(request)} (see /docs)"
    return error_response(exc.status_code, detail, headers=headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A 5xx other than 503 is a bug (SPEC §5): answered in the one shape without the
    exception's text (uvicorn logs its traceback)."""
    log.error("internal error on %s %s: %s", request.method, _path(request), type(exc).__name__)
    return error_response(500, f"internal error ({type(exc).__name__}); the sidecar's log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_input)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
