"""``asterisk-pipeline calls search``: the filter from the arguments, and the found calls as a
table, JSON (the page ``GET /calls`` answers) or streamed CSV. The query is the API's own
(``warehouse/search.py``)."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from ..csv_export import csv_chunks
from ..numbers import number_key
from ..pbx.fleet import Fleet
from ..warehouse.search import COLUMNS, DIRECTIONS, CallFilter, Zones, iter_calls, search_calls
from ..warehouse.stats import DayRange

#: Calls printed without --limit (table and JSON; CSV prints every one).
DEFAULT_LIMIT = 100
_KINDS = {"0": "in", "1": "out", "2": "int"}


@dataclass(frozen=True)
class SearchOutput:
    form: str  # 'table' | 'json' | 'csv'
    limit: int | None
    zone_of: Callable[[str], ZoneInfo]


def call_filter(args: argparse.Namespace, fleet: Fleet) -> CallFilter:
    """The filter the arguments ask for; ValueError (a usage error) for a number without a
    digit or reversed dates."""
    key = None
    if args.number is not None:
        key = number_key(args.number)
        if key is None:
            raise ValueError(f"--number {args.number!r} has no digit")
    direction = DIRECTIONS.get(args.direction, args.direction) if args.direction else None
    return CallFilter(
        enterprises=tuple(dict.fromkeys(args.enterprise or ())), phone_key=key, extension=args.extension,
        days=DayRange(args.date_from, args.date_to),  # reversed: ValueError
        zones=Zones(fleet.default_timezone, fleet.zone_exceptions()),
        direction=direction, answered=args.answered, shape=args.shape,
    )


def print_found(engine: Engine, wanted: CallFilter, output: SearchOutput) -> None:
    if output.form == "csv":
        rows: Iterator[dict[str, Any]] = iter_calls(engine, wanted)
        for line in csv_chunks(COLUMNS, islice(rows, output.limit) if output.limit else rows):
            sys.stdout.write(line)
        return
    limit = output.limit or DEFAULT_LIMIT
    with engine.connect() as conn:
        page = search_calls(conn, wanted, limit)
    if output.form == "json":
        print(json.dumps({"calls": page.rows, "count": len(page.rows), "limit": limit,
                          "more": page.next is not None}, default=lambda v: v.isoformat(), ensure_ascii=False))
        return
    _table(page.rows, output.zone_of)
    if page.next is not None:
        print(f"(more than {limit} calls: narrow the search or raise --limit)", file=sys.stderr)


def _table(rows: list[dict[str, Any]], zone_of: Callable[[str], ZoneInfo]) -> None:
    header = ["start (PBX time)", "enterprise", "unique_id", "dir", "number", "answered", "shape", "held by", "duration"]
    lines = [header]
    for r in rows:
        start = r["start_time"].astimezone(zone_of(r["enterprise_id"])).strftime("%Y-%m-%d %H:%M:%S") \
            if r["start_time"] else "-"
        lines.append([start, r["enterprise_id"], r["unique_id"], _KINDS.get(r["call_type"] or "", r["call_type"] or "-"),
                      r["phone_number"] or "-", "yes" if r["is_answered"] else "no", r["shape"] or "-",
                      " > ".join(r["transfer_chain"] or []) or "-", str(r["duration"]) if r["duration"] is not None else "-"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print("(no calls match)")
