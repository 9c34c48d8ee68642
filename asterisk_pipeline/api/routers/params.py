"""Parameters and documented answers the routers share.

Why the enterprise segment has its own convertor: ``POST /sync/status`` used to reach
``POST /sync/{enterprise}`` (a full match beats the GET route's method mismatch) and answered
404 "enterprise status is unknown". A ``{enterprise}`` segment never takes the name of a fixed
path beside it, so a request for a fixed path with the wrong method finds only that path's
route: 405 with its ``Allow`` header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from starlette.convertors import Convertor, register_url_convertor

from ..limits import MAX_BODY_BYTES
from ..models import NUMBER_PATTERN, Conflict, Error, SyncStarted


class _Segment(Convertor[str]):
    """A path segment as it is (subclasses narrow ``regex``)."""

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def enterprise_segment(*fixed: str) -> str:
    """``{enterprise:…}`` for a route path: an enterprise number, never one of ``fixed`` (the
    fixed paths beside it). The OpenAPI path stays ``{enterprise}``."""
    name = "enterprise_not_" + "_".join(fixed)
    not_fixed = type(name, (_Segment,), {"regex": rf"(?!(?:{'|'.join(map(re.escape, fixed))})(?:/|$))[^/]+"})
    register_url_convertor(name, not_fixed())
    return f"{{enterprise:{name}}}"


EnterprisePath = Annotated[str, Path(
    pattern=NUMBER_PATTERN, description="Enterprise number, e.g. 0327", examples=["0327"])]

@dataclass(frozen=True)
class WaitRequest:
    """``?wait=true[&timeout=S]``: answer once the sync ended (at most ``timeout`` s)."""

    wait: bool = False
    timeout: float | None = None


def _wait_request(
    wait: Annotated[bool, Query(description="Block until the sync ends (up to `timeout` s) and return its statistics")] = False,
    timeout: Annotated[float | None, Query(gt=0, description="Seconds ?wait=true may block (default and maximum: ASTERISK_API_WAIT_TIMEOUT_S)")] = None,
) -> WaitRequest:
    return WaitRequest(wait, timeout)


#: The ``wait`` and ``timeout`` query parameters of a sync request.
Waiting = Annotated[WaitRequest, Depends(_wait_request)]

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Error, "description": "Database (or Dagster webserver) unavailable"},
}
#: UNAVAILABLE for an endpoint whose own answer is not JSON (its errors still are).
UNAVAILABLE_JSON: dict[int | str, dict[str, Any]] = {
    503: {"description": UNAVAILABLE[503]["description"],
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
}
SYNC_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"model": SyncStarted, "description": "With ?wait=true: the sync ended, statistics included"},
    400: {"model": Error, "description": "A body that cannot be read at all (not UTF-8 JSON)"},
    401: {"model": Error, "description": "A token is configured and the request lacks it"},
    404: {"model": Error, "description": "Unknown or inactive enterprise"},
    405: {"model": Error, "description": "The path names a fixed endpoint of another method "
          "(e.g. POST /sync/status): the `Allow` header lists its methods"},
    408: {"model": Error, "description": "The request body did not arrive in time (a slow client)"},
    409: {"model": Conflict, "description": "A sync of this flow is already queued or running for it"},
    413: {"model": Error, "description": f"Request body larger than {MAX_BODY_BYTES} bytes (refused unread)"},
    422: {"model": Error, "description": "Invalid input (enterprise number, dates, body types): each one "
          "in `errors`, quoted at most as a short excerpt"},
    **UNAVAILABLE,
}
