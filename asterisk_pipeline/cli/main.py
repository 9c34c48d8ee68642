"""``asterisk-pipeline``: the operators' command line (database, imports, statistics, simulator)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model import Enterprise, Flow
from ..pbx.files import date_from_name
from ..settings import Settings, env_var
from ..warehouse.registry import validate_number
from .base import (
    DISTRIBUTION,
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Invocation,
    day_arg,
    enterprise_arg,
    first_line,
    open_engine,
    positive_arg,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asterisk-pipeline",
        description="Pull Asterisk Listen_AMI call logs into one central call database.",
        epilog="Configuration comes from ASTERISK_* environment variables (see README). Exit codes: "
        "0 done; 1 the work failed (a sync, an import, no such call); 2 nothing attempted: bad "
        "arguments, an unknown enterprise, a database that cannot be opened (bad URL, unreachable, "
        "missing, no schema yet: the message names it and how to name another) or a read-only "
        "warehouse for a command that writes; 141 the reader of the output "
        "went away (e.g. `| head`). Commands that only read (stats, calls show, enterprise list) "
        "never create a database file, and answer from a read-only SQLite warehouse.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_help = (f"SQLAlchemy URL of the central database (default: ${env_var('database_url')}, else "
               f"the SQLite file ${env_var('home')}/asterisk.db; ${env_var('home')} defaults to ./.asterisk)")

    db = commands.add_parser("db", help="central database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply migrations (safe to repeat)")
    upgrade.add_argument("--db", metavar="URL", help=db_help)

    enterprise = commands.add_parser("enterprise", help="the enterprises table (embedded setups, demos)")
    ent_commands = enterprise.add_subparsers(dest="enterprise_command", required=True, metavar="ACTION")
    add = ent_commands.add_parser("add", help="add or update an enterprise")
    add.add_argument("number", type=enterprise_arg, help="enterprise number, e.g. 0327 (1-32 of A-Z a-z 0-9 _ -)")
    add.add_argument("--name")
    add.add_argument("--host", help="PBX host name")
    add.add_argument("--ip")
    add.add_argument("--secret", help="the enterprise secret (stored as calls.token)")
    add.add_argument("--token", help="the PBX unit id carried in event bodies (name2)")
    add.add_argument("--disabled", action="store_true", help="add it inactive")
    add.add_argument("--db", metavar="URL", help=db_help)
    listing = ent_commands.add_parser(
        "list", help="list enterprises (secrets masked; works on a read-only warehouse)"
    )
    listing.add_argument("--db", metavar="URL", help=db_help)

    imp = commands.add_parser(
        "import-file",
        help="import one local Listen_AMI file for an enterprise",
        description="Import one local Listen_AMI_YYYY-MM-DD.db file. Prints a one-line JSON "
        "summary; exits 1 when the import failed, 2 on a usage error (an enterprise not in "
        "enterprises, a database that cannot be opened or is read-only).",
    )
    imp.add_argument("path", type=Path, help="path of a Listen_AMI_YYYY-MM-DD.db file")
    imp.add_argument("--enterprise", type=enterprise_arg, required=True, metavar="NUMBER",
                     help="enterprise number (must exist in enterprises)")
    imp.add_argument("--flow", required=True, choices=[f.value for f in Flow],
                     help="history reads APIlogs, live reads AlternativeAPIlogs")
    imp.add_argument("--date", type=day_arg, help="file date when the name does not carry it")
    imp.add_argument("--force", action="store_true", help="ignore the cursor: read every row again")
    imp.add_argument("--db", metavar="URL", help=db_help)

    sync = commands.add_parser("sync", help="sync from the PBXes (SSH or local mirror)")
    sync_commands = sync.add_subparsers(dest="sync_command", required=True, metavar="FLOW")
    live = sync_commands.add_parser(
        "live", help="one live cycle: AlternativeAPIlogs of today's (and yesterday's) files",
        description="One live cycle over the active enterprises (or the ones named). Prints one "
        "JSON line per file synced; exits 1 if any sync failed, 2 (syncing nothing) when an "
        "--enterprise is unknown or inactive.",
    )
    live.add_argument("--enterprise", type=enterprise_arg, action="append", metavar="NUMBER",
                      help="only these (repeatable); one not active in enterprises is exit code 2")
    live.add_argument("--db", metavar="URL", help=db_help)
    history = sync_commands.add_parser(
        "history", help="import APIlogs of the day files in a date range",
        description="History import of every day file the PBX has in [--date-from, --date-to]. "
        "Prints one JSON line per day; exits 1 if any day failed, 2 when the enterprise is unknown "
        "or inactive.",
    )
    history.add_argument("--enterprise", type=enterprise_arg, required=True, metavar="NUMBER")
    history.add_argument("--date-from", type=day_arg, required=True)
    history.add_argument("--date-to", type=day_arg, required=True)
    history.add_argument("--force", action="store_true", help="re-import days already imported")
    history.add_argument("--db", metavar="URL", help=db_help)

    stats = commands.add_parser(
        "stats", help="conversations, answered share, average duration (or per extension / shape)",
        description="Statistics over conversations (calls), never over legs: per enterprise and data "
        "source, per PBX-local day with --by-day, per extension (rang, answered, missed split into "
        "missed_unanswered - nobody held the call - and missed_answered_elsewhere - a colleague held "
        "it) with --by-extension, or per conversation shape (calls, answered, average duration; "
        "'unknown' for calls imported before shapes were computed) with --by-shape. "
        "--date-from/--date-to select calls by the PBX-local day of their start, both inclusive. Reads only: works on a read-only warehouse.",
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    group = stats.add_mutually_exclusive_group()
    group.add_argument("--by-day", action="store_true", help="also group by the PBX-local day of the start")
    group.add_argument("--by-extension", action="store_true",
                       help="per extension: rang, answered, missed_unanswered, missed_answered_elsewhere")
    group.add_argument("--by-shape", action="store_true", help="per shape: calls, answered, average duration")
    stats.add_argument("--date-from", type=day_arg, metavar="YYYY-MM-DD", help="first PBX-local day (inclusive)")
    stats.add_argument("--date-to", type=day_arg, metavar="YYYY-MM-DD", help="last PBX-local day (inclusive)")
    stats.add_argument("--enterprise", type=enterprise_arg, action="append", metavar="NUMBER", help="only these (repeatable); one neither in enterprises nor in calls is exit code 2")
    stats.add_argument("--db", metavar="URL", help=db_help)

    calls_cmd = commands.add_parser("calls", help="look at one conversation, or rebuild them")
    call_commands = calls_cmd.add_subparsers(dest="calls_command", required=True, metavar="ACTION")
    show = call_commands.add_parser(
        "show", help="one conversation: call, legs, participants and event timeline",
        description="What happened to this call? Prints the conversation a UniqueId (its primary or "
        "any of its legs) belongs to: direction, who rang, who answered, each transfer, and every "
        "event in time order, once even when both flows stored it, in the PBX's local time (the "
        "zone is named). Exits 1 when no call holds the UniqueId, 2 for an unknown --enterprise. "
        "Reads only: works on a read-only warehouse.",
    )
    show.add_argument("unique_id", metavar="UNIQUEID")
    show.add_argument("--enterprise", type=enterprise_arg, metavar="NUMBER",
                      help="when the UniqueId exists on several PBXes")
    show.add_argument("--json", action="store_true",
                      help="print JSON (UTC times; each timeline event lists the tables it was seen in)")
    show.add_argument(
        "--explain", action="store_true",
        help="also say why it is one call: for every leg the rule (bridge, Local halves, "
        "forwarding) and the source rows (table, file date, id) that linked it; for every holder "
        "the bridge rows that made it one; for every participant that did not answer, why. "
        "Re-assembles the call's stored rows (--json: an 'explain' object)",
    )
    show.add_argument("--db", metavar="URL", help=db_help)
    _add_search_parser(call_commands, db_help)
    rebuild = call_commands.add_parser(
        "rebuild", help="re-assemble stored conversations (after `db upgrade`)",
        description="Rebuild calls, legs and participants from what the warehouse stores, one "
        "transaction per enterprise, day and table: safe to interrupt and to repeat. Days stored "
        "by a version before conversations also re-read their day file when it is at hand (history "
        "cache, local mirror, or the PBX), because that version merged identical APIlogs bridge "
        "rows; days rebuilt without it list the calls that may differ. Progress goes to stderr, "
        "one JSON line per day to stdout.",
    )
    rebuild.add_argument("--enterprise", type=enterprise_arg, metavar="NUMBER", help="only this enterprise (unknown: exit code 2)")
    rebuild.add_argument("--date-from", type=day_arg, help="first file date (default: the first stored)")
    rebuild.add_argument("--date-to", type=day_arg, help="last file date (default: the last stored)")
    rebuild.add_argument("--warehouse-only", action="store_true",
                         help="never fetch day files, even for days of a previous version")
    rebuild.add_argument("--db", metavar="URL", help=db_help)

    serve = commands.add_parser(
        "serve", help="run the REST sidecar (the old service's API, port 8007)",
        description="The REST sidecar: the old sync service's curl workflows, with syncs started as "
        "Dagster runs through the webserver at $ASTERISK_DAGSTER_URL. Binds to 127.0.0.1:8007 unless "
        "told otherwise; set ASTERISK_API_TOKEN to require a bearer token on the POST endpoints "
        "(required to bind to any address beyond loopback: without it serve refuses, exit 2). "
        "Bodies over 64 KiB answer 413; clients slower than $ASTERISK_API_CLIENT_TIMEOUT_S "
        "(10 s) to send headers or body are disconnected.",
    )
    serve.add_argument("--host", help="bind address (default: $ASTERISK_API_HOST or 127.0.0.1); "
                       "any non-loopback address needs ASTERISK_API_TOKEN")
    serve.add_argument("--port", type=int, help="port (default: $ASTERISK_API_PORT or 8007)")
    serve.add_argument("--db", metavar="URL", help=db_help)
    serve.add_argument("--dagster-url", metavar="URL", help="Dagster webserver (default: $ASTERISK_DAGSTER_URL "
                       "or http://127.0.0.1:3000)")

    sim = commands.add_parser("simulate", help="write realistic (and dirty) Listen_AMI files")
    sim.add_argument("outdir", type=Path, help="files go to OUTDIR/<enterprise>/Listen_AMI_<date>.db")
    sim.add_argument("--enterprises", required=True, help="comma-separated numbers, e.g. 0100,0327")
    sim.add_argument("--days", type=positive_arg, default=1)
    sim.add_argument("--calls-per-day", type=positive_arg, default=100)
    sim.add_argument("--end-date", type=day_arg, help="last day (default: today, UTC)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--dirty-share", type=float, default=None,
                     help="share of malformed rows (0-1; default 0.01, 0 with --busy)")
    sim.add_argument("--busy", type=positive_arg, metavar="N",
                     help="a busy day: N conversations of every shape at once (instead of --calls-per-day), "
                     "sharing extensions, trunks and caller numbers; implies --truth")
    sim.add_argument("--truth", action="store_true",
                     help="write each day's ground truth beside it: Listen_AMI_<date>.truth.jsonl, "
                     "one JSON line per conversation (primary, legs with links, chain, participants, shape)")
    _add_fleet_parser(commands, db_help)
    from .missed import add_missed_parser  # SPEC §4.7: `missed`, its own module

    add_missed_parser(commands, db_help, enterprise_arg, day_arg)
    return parser


def _add_fleet_parser(commands: Any, db_help: str) -> None:
    """``fleet health``: SPEC §4.8, the morning look at every PBX."""
    fleet = commands.add_parser("fleet", help="the fleet of PBXes: health")
    fleet_commands = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    health = fleet_commands.add_parser(
        "health", help="status of every active enterprise with its evidence (SPEC §4.8)",
        description="Per active enterprise: ok, stale (no successful live sync for "
        "$ASTERISK_HEALTH_STALE_SYNC_MINUTES, or no new event for $ASTERISK_HEALTH_STALE_EVENT_MINUTES "
        "of the PBX's working hours $ASTERISK_HEALTH_WORKING_HOURS), failing (the last "
        "$ASTERISK_HEALTH_FAILING_AFTER live syncs failed) or unknown (no successful live sync yet); "
        "then the enterprises rows skipped for an unsafe number. Only reads the warehouse.",
        epilog="Exit codes: 0 no enterprise is stale or failing and no row is skipped; 1 at least one "
        "is (the table or --json names it); 2 bad arguments or a database that cannot be opened.",
    )
    health.add_argument("--json", action="store_true", help="one JSON object per enterprise, one per line")
    health.add_argument("--db", metavar="URL", help=db_help)


def cmd_db_upgrade(run: Invocation) -> int:
    from ..warehouse.db import mask_url
    from ..warehouse.migrate import current_revision, upgrade

    engine = open_engine(run.args.db, run.settings)
    upgrade(engine)
    print(f"database at revision {current_revision(engine)} ({mask_url(engine.url)})")
    return EXIT_OK


def cmd_enterprise_add(run: Invocation) -> int:
    from ..warehouse.db import write_transaction
    from ..warehouse.registry import upsert_enterprise

    args, engine = run.args, run.warehouse(write=True)
    with write_transaction(engine) as conn:
        upsert_enterprise(
            conn,
            Enterprise(args.number, args.name, args.host, args.secret, args.ip, args.token),
            is_enabled=not args.disabled,
            active=not args.disabled,
        )
    print(f"enterprise {args.number} saved ({'disabled' if args.disabled else 'active'})")
    return EXIT_OK


def cmd_enterprise_list(run: Invocation) -> int:
    from sqlalchemy import select

    from ..warehouse.schema import enterprises

    with run.warehouse(write=False).connect() as conn:
        rows = conn.execute(select(enterprises).order_by(enterprises.c.number)).all()
    for row in rows:
        state = "active" if row.is_enabled and row.active else "inactive"
        print(f"{row.number}\t{row.name or ''}\t{row.host or ''}\t{row.ip or ''}\t{state}\tsecret={'***' if row.secret else '-'}")
    return EXIT_OK


def cmd_import_file(run: Invocation) -> int:
    from ..sync import LocalDayFile, import_day_file
    from ..warehouse.registry import get_enterprise

    args = run.args
    file_date = args.date or date_from_name(args.path.name)
    if file_date is None:
        raise CliError(
            f"cannot tell the date of {args.path.name!r}: name it Listen_AMI_YYYY-MM-DD.db or pass --date"
        )
    engine = run.warehouse(write=True)
    with engine.connect() as conn:
        enterprise = get_enterprise(conn, args.enterprise)
    if enterprise is None:
        raise CliError(
            f"enterprise {args.enterprise} is not in the enterprises table "
            "(add it with `asterisk-pipeline enterprise add`)"
        )
    outcome = import_day_file(
        engine, run.fleet, enterprise, LocalDayFile(args.path, Flow(args.flow), file_date), force=args.force
    )
    print(json.dumps(outcome.summary(), ensure_ascii=False))
    return EXIT_OK if outcome.ok else EXIT_FAILED


def cmd_stats(run: Invocation) -> int:
    from ..warehouse.stats import DayRange, StatsScope, call_stats, extension_stats, shape_stats

    args = run.args
    try:
        days = DayRange(args.date_from, args.date_to)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    engine = run.warehouse(write=False, enterprises=args.enterprise or [])
    only = set(args.enterprise) if args.enterprise else None
    scope = StatsScope(only, days, run.fleet.timezone)
    header: list[str]
    cells: Callable[[Any], list[str]]
    with engine.connect() as conn:
        if args.by_extension:
            found: Sequence[Any] = extension_stats(conn, scope)
            header = ["enterprise", "extension", "rang", "answered", "missed_unanswered",
                      "missed_answered_elsewhere"]
            cells = lambda r: [r.enterprise_id, r.extension, str(r.rang), str(r.answered),
                               str(r.missed_unanswered), str(r.missed_answered_elsewhere)]
        elif args.by_shape:
            found = shape_stats(conn, scope)
            header = ["enterprise", "shape", "calls", "answered", "answered_%", "avg_duration_s"]
            cells = lambda r: [r.enterprise_id, r.shape, str(r.calls), str(r.answered),
                               f"{100 * r.answered_share:.1f}", _seconds(r.avg_duration)]
        else:
            found = call_stats(conn, scope, by_day=args.by_day)
            day = ["day"] if args.by_day else []
            header = ["enterprise", "data_source", *day, "calls", "answered", "answered_%",
                      "avg_duration_s", "legs_folded", "transfers"]
            cells = lambda r: [
                r.enterprise_id, r.data_source, *([r.day or "-"] if args.by_day else []), str(r.calls),
                str(r.answered), f"{100 * r.answered_share:.1f}", _seconds(r.avg_duration),
                str(r.legs_folded), str(r.transfers),
            ]
    if args.json:
        print(json.dumps([asdict(row) for row in found], ensure_ascii=False))
    else:
        _print_table(header, [cells(row) for row in found])
    return EXIT_OK


def _seconds(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    table = [header, *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print("(no calls yet)")


def cmd_calls_show(run: Invocation) -> int:
    from ..warehouse.call_view import call_detail, find_calls, unlinked_leg

    args = run.args
    engine = run.warehouse(write=False, enterprises=[args.enterprise] if args.enterprise else [])
    with engine.connect() as conn:
        found = find_calls(conn, args.unique_id, args.enterprise)
        if len(found) > 1:
            raise CliError(
                f"UniqueId {args.unique_id} belongs to calls of enterprises "
                f"{', '.join(f['enterprise_id'] for f in found)}: pass --enterprise"
            )
        if not found:
            loose = unlinked_leg(conn, args.unique_id, args.enterprise)
            if loose:
                print(json.dumps({"unlinked_forwarding_leg": loose}, default=str, ensure_ascii=False)
                      if args.json else
                      f"{args.unique_id} is a forwarding leg the rows cannot tie to one call (SPEC §4.2)")
                return EXIT_OK
            print(f"asterisk-pipeline: no call holds UniqueId {args.unique_id}", file=sys.stderr)
            return EXIT_FAILED
        detail = call_detail(conn, found[0]["id"])
        if args.explain:
            from ..sync.explain import explain_call
            from ..warehouse.registry import get_enterprise

            number = detail["call"]["enterprise_id"]
            enterprise = get_enterprise(conn, number) or Enterprise(number)
            detail["explain"] = explain_call(conn, enterprise, run.fleet.timezone(enterprise), detail)
    if args.json:
        print(json.dumps(detail, default=lambda v: v.isoformat(), ensure_ascii=False))
        return EXIT_OK
    print(_render_call(detail, run.fleet.timezone(detail["call"]["enterprise_id"])))
    return EXIT_OK


def _render_call(detail: dict[str, Any], zone: ZoneInfo) -> str:
    def local(value: Any) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"

    call = detail["call"]
    kinds = {"0": "incoming", "1": "outgoing", "2": "internal"}
    chain = call["transfer_chain"]
    kind = kinds.get(call["call_type"], call["call_type"])
    answered = "answered" if call["is_answered"] else "not answered"
    plural = "s" if len(chain) != 2 else ""
    rang = ", ".join(
        f"{p['extension']} ({p['participant_status']}"
        + (f", held #{p['talk_order']}" if p["talk_order"] else "") + ")"
        for p in detail["participants"]
    )
    lines = [
        (f"call {call['unique_id']} (enterprise {call['enterprise_id']}, {call['data_source']}):"
         f" {kind} {call['phone_number'] or '-'}"),
        (f"  {local(call['start_time'])} → {local(call['end_time'])}, {call['duration']} s,"
         f" {answered} (CallStatus {call['call_status']})"),
        (f"  answered by {call['answered_by'] or '-'} at {local(call['answered_at'])};"
         f" talked last: {call['final_extension'] or '-'}"),
        f"  times: PBX-local, {zone.key}",
        f"  shape: {call.get('shape') or '-'}",
        f"  held by: {' → '.join(chain) if chain else '-'} ({max(len(chain) - 1, 0)} transfer{plural})",
        f"  rang: {rang or '-'}",
        f"  legs ({call['leg_count']}):",
    ]
    for leg in detail["legs"]:
        lines.append(
            f"    {leg['role']:<7} {leg['link'] or '-':<10} {leg['unique_id']:<18} {leg['channel'] or '-':<44}"
            f" CallType {leg['call_type'] or '-'} CallStatus {leg['call_status'] or '-'}"
        )
    lines.append(f"  timeline ({zone.key}):")
    for event in detail["timeline"]:
        lines.append(f"    {local(event['at'])}  {event['unique_id']:<18} {event['what']}")
    if "explain" in detail:
        lines.extend(_render_explain(detail["explain"]))
    return "\n".join(lines)


def _rows_text(rows: list[dict[str, Any]]) -> str:
    """Source rows as ``APIlogs 2025-09-13 #13 bridge`` (ids restart in every day file)."""
    return "; ".join(
        f"{r['table']} {r['file_date']} #{r['source_id']} {r['event']}"
        + (f" ({r['reading']})" if r.get("reading") else "")
        for r in rows
    ) or "-"


def _render_explain(why: dict[str, Any]) -> list[str]:
    lines = [f"  why one call (rows of {why.get('table') or '-'}):"]
    if why.get("note"):
        lines.append(f"    {why['note']}")
    if why.get("table") and not why.get("same_as_stored"):
        lines.append("    the stored call differs from what its rows give now: run `calls rebuild`")
    for leg in why["legs"]:
        lines.append(f"    {leg['unique_id']:<18} {leg['link']:<10} {leg['rule']}")
        lines.append(f"      rows: {_rows_text(leg['rows'])}")
    for entry in why["chain"]:
        lines.append(f"    held #{entry['position']} by {entry['party']}: {_rows_text(entry['rows'])}"
                     + (f" — {entry['reading']}" if entry.get("reading") else ""))
    for item in why["no_answer"]:
        lines.append(f"    {item['party']} did not answer: {item['why']}")
        lines.append(f"      rows: {_rows_text(item['rows'])}")
    return lines


def _add_search_parser(call_commands: Any, db_help: str) -> None:
    from ..model import SHAPES
    from ..warehouse.search import DIRECTIONS

    search = call_commands.add_parser(
        "search", help="find conversations by number, extension, days, direction, answer, shape",
        description="Find that call: conversations matching every filter given, newest first (the "
        "same query as GET /calls). A number matches in any spelling (+375 29 123-45-67, "
        "80291234567 and 375291234567 are one number, SPEC 4.7); an extension matches a party that "
        "rang or held the conversation; days are the PBX-local days of the start, both inclusive. "
        "Prints a table, --json (the page GET /calls answers: calls, count, limit, and more: true when --limit cut it) or --csv (every "
        "matching call unless --limit is given, streamed; cells starting with = + - @ get a "
        "leading ' unless they are plain numbers). Exits 0 also when nothing matches, 2 for bad "
        "arguments or an unknown --enterprise. Reads only: works on a read-only warehouse.",
    )
    search.add_argument("--enterprise", type=enterprise_arg, action="append", metavar="NUMBER",
                        help="only these (repeatable); one neither in enterprises nor in calls is exit code 2")
    search.add_argument("--number", help="the other side's number, any spelling (an extension finds the "
                        "internal calls it placed)")
    search.add_argument("--extension", help="a party that rang or held it (extension or forwarding target)")
    search.add_argument("--date-from", type=day_arg, metavar="YYYY-MM-DD", help="first PBX-local day (inclusive)")
    search.add_argument("--date-to", type=day_arg, metavar="YYYY-MM-DD", help="last PBX-local day (inclusive)")
    search.add_argument("--direction", choices=[*DIRECTIONS.values(), *DIRECTIONS],
                        help="0|incoming, 1|outgoing, 2|internal")
    answered = search.add_mutually_exclusive_group()
    answered.add_argument("--answered", action="store_const", const=True, dest="answered",
                          help="only calls someone held")
    answered.add_argument("--unanswered", action="store_const", const=False, dest="answered",
                          help="only calls nobody held")
    search.add_argument("--shape", choices=SHAPES, help="what happened (SPEC 4.2)")
    search.add_argument("--limit", type=positive_arg, help="at most this many calls (default 100; --csv: all)")
    output = search.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the page as JSON (UTC times)")
    output.add_argument("--csv", action="store_true", help="print CSV (UTC times), streamed")
    search.add_argument("--db", metavar="URL", help=db_help)


def cmd_calls_search(run: Invocation) -> int:
    from .search import SearchOutput, call_filter, print_found

    args = run.args
    try:
        wanted = call_filter(args, run.fleet)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    engine = run.warehouse(write=False, enterprises=args.enterprise or [])
    output = "csv" if args.csv else "json" if args.json else "table"
    print_found(engine, wanted, SearchOutput(output, args.limit, run.fleet.timezone))
    return EXIT_OK


def cmd_calls_rebuild(run: Invocation) -> int:
    from ..sync.rebuild import DayRebuild, RebuildScope, rebuild_calls
    from ..warehouse.stats import DayRange

    args = run.args
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise CliError("--date-from is after --date-to")
    engine = run.warehouse(write=True, enterprises=[args.enterprise] if args.enterprise else [])
    began = time.monotonic()

    def progress(day: DayRebuild, done: int, total: int) -> None:
        print(json.dumps(asdict(day), ensure_ascii=False), flush=True)
        print(
            f"[{done}/{total}] {day.enterprise} {day.file_date} {day.table}: {day.rows} rows,"
            f" {day.new_calls} new + {day.recomputed_calls} recomputed calls ({day.source})"
            f"{f', {len(day.not_exact)} not exact' if day.not_exact else ''}"
            f" — {time.monotonic() - began:.1f} s",
            file=sys.stderr, flush=True,
        )

    scope = RebuildScope(
        args.enterprise, DayRange(args.date_from, args.date_to), use_files=not args.warehouse_only
    )
    reports = rebuild_calls(engine, run.fleet, scope, progress=progress)
    inexact = sum(len(r.not_exact) for r in reports)
    print(f"rebuilt {len(reports)} day files; {inexact} calls may differ from a fresh import"
          " (their day file was not at hand)" if inexact else f"rebuilt {len(reports)} day files",
          file=sys.stderr)
    return EXIT_OK


def cmd_simulate(run: Invocation) -> int:
    from ..devtools.calls import truth_path
    from ..devtools.fleet import simulate_fleet

    args = run.args
    numbers = [n.strip() for n in args.enterprises.split(",") if n.strip()]
    if not numbers:
        raise CliError("--enterprises needs at least one number")
    for number in numbers:
        try:
            validate_number(number)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    dirty_share = args.dirty_share if args.dirty_share is not None else (0.0 if args.busy else 0.01)
    if not 0 <= dirty_share < 1:
        raise CliError("--dirty-share must be at least 0 and below 1")
    end = args.end_date or datetime.now(UTC).date()
    busy = args.busy is not None
    summaries = simulate_fleet(
        args.outdir, enterprises=numbers, days=args.days,
        calls_per_day=args.busy if busy else args.calls_per_day, end_date=end, seed=args.seed,
        dirty_share=dirty_share, busy=busy, truth=busy or args.truth,
        **({"complex_share": 0.5} if busy else {}),
    )
    for summary in summaries:
        line = {
            "path": str(summary.path), "enterprise": summary.enterprise,
            "date": summary.day.isoformat(), "calls": summary.calls,
            "answered": summary.answered, "rows": summary.rows, "dirty_rows": summary.dirty_rows,
        }
        if busy or args.truth:
            line["truth"] = str(truth_path(summary.path))
            line["shapes"] = dict(sorted(Counter(c.call_shape for c in summary.conversations).items()))
        print(json.dumps(line, ensure_ascii=False))
    return EXIT_OK


def cmd_sync_live(run: Invocation) -> int:
    from ..sync import live_cycle

    args = run.args
    engine = run.warehouse(write=True, enterprises=args.enterprise or [], active=True)
    report = live_cycle(engine, run.fleet, numbers=args.enterprise)
    for outcome in report.outcomes:
        print(json.dumps(outcome.summary(), ensure_ascii=False))
    print(json.dumps({
        "cycle": "live", "syncs": len(report.outcomes), "failed": len(report.failed),
        "bytes_transferred": report.bytes_transferred, "seconds": round(report.seconds, 3),
    }))
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_sync_history(run: Invocation) -> int:
    from ..sync import SyncRun, sync_history_range
    from ..warehouse.registry import get_enterprise
    from ..warehouse.stats import DayRange

    args = run.args
    if args.date_from > args.date_to:
        raise CliError("--date-from is after --date-to")
    engine = run.warehouse(write=True, enterprises=[args.enterprise], active=True)
    with engine.connect() as conn:
        enterprise = get_enterprise(conn, args.enterprise, active_only=True)
    if enterprise is None:  # disabled between the check and here
        raise CliError(f"enterprise {args.enterprise} is inactive")
    outcomes = sync_history_range(
        engine, run.fleet, enterprise, DayRange(args.date_from, args.date_to), run=SyncRun(force=args.force)
    )
    for outcome in outcomes:
        print(json.dumps(outcome.summary(), ensure_ascii=False))
    if not outcomes:
        print(json.dumps({"enterprise": args.enterprise, "days": 0, "note": "no day files in range"}))
    return EXIT_FAILED if any(not o.ok for o in outcomes) else EXIT_OK


def cmd_serve(run: Invocation) -> int:
    """Run the sidecar in this process (one worker: the sync reservations live in it)."""
    import uvicorn

    from ..api.app import create_app
    from ..api.limits import guarded_protocol, is_loopback

    args = run.args
    overrides = {k: v for k, v in {
        "database_url": args.db, "dagster_url": args.dagster_url,
        "api_host": args.host, "api_port": args.port,
    }.items() if v is not None}
    settings = run.settings.model_copy(update=overrides)
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not is_loopback(settings.api_host) and not token.strip():
        raise CliError(
            f"refusing to listen on {settings.api_host}: beyond loopback anyone who reaches the port "
            "could start syncs. Set ASTERISK_API_TOKEN (the POST endpoints then need "
            "'Authorization: Bearer <token>') or bind to 127.0.0.1."
        )
    engine = Invocation(argparse.Namespace(db=None), settings).warehouse(write=True)
    engine.dispose()
    logging.getLogger("asterisk_pipeline").setLevel(logging.INFO)  # sync launches, failures
    app = create_app(settings)
    print(f"asterisk-pipeline sidecar on http://{settings.api_host}:{settings.api_port} "
          f"(Dagster: {settings.dagster_url}; API docs: /docs)", file=sys.stderr, flush=True)
    # Slow clients: headers within api_client_timeout_s (guarded_protocol), the body within it
    # again (BodyLimit), idle keep-alive connections closed after 5 s; at most
    # api_max_connections served at once.
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="warning",
                access_log=False, http=guarded_protocol(settings.api_client_timeout_s),
                timeout_keep_alive=5, limit_concurrency=settings.api_max_connections)
    return 0


#: Statuses that make ``fleet health`` exit 1.
FLEET_TROUBLE = ("stale", "failing", "skipped")


def cmd_fleet_health(run: Invocation) -> int:
    from ..sync.health import fleet_health, health_record

    engine = run.warehouse(write=False)
    try:
        with engine.connect() as conn:
            healths = fleet_health(conn, run.fleet)
    finally:
        engine.dispose()
    records = [health_record(h) for h in healths]
    if run.args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        _print_fleet_table(records)
    return EXIT_FAILED if any(r["status"] in FLEET_TROUBLE for r in records) else EXIT_OK


def _print_fleet_table(records: list[dict[str, Any]]) -> None:
    header = ("enterprise", "status", "newest event (PBX)", "last live success (UTC)", "fails", "reason / last error")
    rows = [header]
    for r in records:
        success = (r["last_successful_sync"] or "never")[:19].replace("T", " ")
        error = f"{r['last_error_kind']}: {r['last_error']}" if r["status"] == "failing" else r["reason"]
        rows.append((r["enterprise_id"], r["status"], r["newest_event_pbx_time"] or "none", success,
                     str(r["consecutive_failures"]), (error or "")[:80]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    counts = Counter(r["status"] for r in records)
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no active enterprise")
def cmd_missed(run: Invocation) -> int:
    from .missed import run_missed

    return run_missed(run)


HANDLERS: dict[tuple[str, str | None], Callable[[Invocation], int]] = {
    ("db", "upgrade"): cmd_db_upgrade,
    ("enterprise", "add"): cmd_enterprise_add,
    ("enterprise", "list"): cmd_enterprise_list,
    ("import-file", None): cmd_import_file,
    ("sync", "live"): cmd_sync_live,
    ("sync", "history"): cmd_sync_history,
    ("stats", None): cmd_stats,
    ("calls", "show"): cmd_calls_show,
    ("calls", "rebuild"): cmd_calls_rebuild,
    ("calls", "search"): cmd_calls_search,
    ("simulate", None): cmd_simulate,
    ("serve", None): cmd_serve,
    ("fleet", "health"): cmd_fleet_health,
    ("missed", None): cmd_missed,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    action = getattr(args, f"{args.command.replace('-', '_')}_command", None)
    handler = HANDLERS[(args.command, action)]
    from sqlalchemy.exc import DBAPIError

    try:
        code = handler(Invocation(args, Settings()))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except CliError as exc:
        print(f"asterisk-pipeline: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # settings or fleet file validation (e.g. an unknown time zone)
        print(f"asterisk-pipeline: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DBAPIError as exc:  # the database failed after it had answered (went away, a lock)
        logging.getLogger("asterisk_pipeline").info("database error", exc_info=True)  # shown with -v
        print(f"asterisk-pipeline: central database error: {first_line(exc.orig or exc)}"
              " (-v for details)", file=sys.stderr)
        return EXIT_FAILED


def _reader_gone() -> int:
    """The reader of stdout went away (``… | head``): the Python documentation's recipe — point
    stdout at /dev/null so the interpreter's final flush cannot fail again, and exit quietly
    with 141 (128 + SIGPIPE), the status a shell shows for a tool its pipe reader left: a
    pipeline under ``set -o pipefail`` sees the output was cut, no traceback is printed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
