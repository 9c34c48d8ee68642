"""``asterisk-pipeline missed``: who did we miss, and did anyone call them back (SPEC §4.7).

Its own module of the cli package: the parser and the handler live here. Reads
only (a read-only SQLite warehouse answers), streams its rows page by page (``--csv`` of a year
holds one page in memory), and prints statuses as of now: an 'open' row past its window reads
'expired'.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from ..followup import STATUSES
from ..missed_report import CSV_COLUMNS, by_day, by_extension, csv_cells, local_days, record
from .base import CliError, Invocation

EXIT_OK = 0


def add_missed_parser(
    commands: Any, db_help: str, enterprise_type: Callable[[str], str], date_type: Callable[[str], date],
) -> None:
    missed = commands.add_parser(
        "missed", help="missed calls and their follow-up: called back, got through, open, expired",
        description="Missed calls (incoming conversations nobody held) with their follow-up, SPEC §4.7: "
        "'called_back' (an answered outgoing call to the number; resolved_by = who called), "
        "'got_through' (the caller's next answered call), else 'open' until the follow-up window "
        "(ASTERISK_MISSED_WINDOW_DAYS, default 7) passes, then 'expired'. Numbers match on their last "
        "9 digits. --date-from/--date-to select by the PBX-local day of the missed call, both inclusive. "
        "--summary: per enterprise and day, missed, resolved share, median seconds to callback; "
        "with --by-extension: callbacks made per extension. Reads only: works on a read-only warehouse. "
        "Exit 2 for an unknown enterprise or a reversed range.",
    )
    missed.add_argument("--enterprise", type=enterprise_type, metavar="NUMBER", help="only this enterprise")
    missed.add_argument("--status", choices=STATUSES, help="only rows with this status (as of now)")
    missed.add_argument("--date-from", type=date_type, metavar="YYYY-MM-DD", help="first PBX-local day (inclusive)")
    missed.add_argument("--date-to", type=date_type, metavar="YYYY-MM-DD", help="last PBX-local day (inclusive)")
    missed.add_argument("--summary", action="store_true", help="statistics per enterprise and day instead of rows")
    missed.add_argument("--by-extension", action="store_true", help="with --summary: callbacks made per extension")
    out = missed.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    out.add_argument("--csv", action="store_true", help="print CSV (rows, or the summary) with a header line")
    missed.add_argument("--db", metavar="URL", help=db_help)


def run_missed(run: Invocation) -> int:
    from ..warehouse.missed import MissedFilter, iter_missed

    args = run.args
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise CliError(f"date range reversed: {args.date_from} is after {args.date_to}")
    if args.by_extension and not args.summary:
        raise CliError("--by-extension goes with --summary")
    engine = run.warehouse(write=False, enterprises=[args.enterprise] if args.enterprise else [])
    fleet = run.fleet
    zone = fleet.timezone(args.enterprise) if args.enterprise else fleet.default_timezone
    low, high = local_days(args.date_from, args.date_to, zone)
    flt = MissedFilter(datetime.now(UTC), args.enterprise, args.status, low, high)
    with engine.connect() as conn:
        rows = iter_missed(conn, flt)
        if args.summary:
            found: list[Any] = by_extension(rows) if args.by_extension else by_day(rows, fleet.timezone)
            _print_records([asdict(r) for r in found], args)
        else:
            _print_rows(rows, args)
    return EXIT_OK


def _print_rows(rows: Any, args: argparse.Namespace) -> None:
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(csv_cells(row))
        return
    _print_records([record(r) for r in rows], args)


def _print_records(records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(records, ensure_ascii=False))
        return
    if not records:
        print("(no missed calls)")
        return
    header = list(records[0])
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if r[h] is None else _cell(r[h]) for h in header] for r in records])
        return
    table = [header, *[[_cell(r[h]) for h in header] for r in records]]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)
