"""The import's main-thread pass without a database: read, classify, open rows, flushes, assembly.

    .venv/bin/python -m benchmarks.import_pass bench-data/reference-20000-1/Listen_AMI_2024-06-22.db

What ``import_rows`` does on its own thread for every row (``classified.classify_chunk``,
``OpenConversations.add`` / ``take_quiet``, the last ``assemble``), timed in process CPU seconds
per stage, so a change to the per-row pass can be measured on a shared machine without
PostgreSQL or the writer thread. It also prints a digest of the *values* it produced (event,
reject and sighting rows, every conversation): two versions of the code that print the same
digest for a file produced the same rows for it (with the same ``FLUSH_ROWS``: conversations are
hashed flush by flush). Not part of ``python -m benchmarks``.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from asterisk_pipeline.classified import classify_chunk
from asterisk_pipeline.model import HISTORY_TABLE, Enterprise, Flow
from asterisk_pipeline.pbx.files import DayFile, date_from_name
from asterisk_pipeline.sync import importer


def run(path: Path, zone: str) -> dict[str, float | int | str]:
    file_date = date_from_name(path.name)
    if file_date is None:
        raise SystemExit(f"{path.name} is not a day file name")
    request = importer.ImportRequest(Enterprise("0327"), Flow.HISTORY, file_date, ZoneInfo(zone))
    digest = hashlib.sha256()
    clock = time.process_time
    spent = {"read": 0.0, "classify": 0.0, "open": 0.0, "flush": 0.0, "assemble": 0.0}
    rows = conversations = 0
    open_rows = importer.OpenConversations()
    chunks = iter(DayFile(path).read_rows(HISTORY_TABLE, -1))
    gc.disable()  # as the import does (importer._gc_paused)
    flush_at = importer.FLUSH_ROWS  # as importer._read
    while True:
        started = clock()
        chunk = next(chunks, None)
        spent["read"] += clock() - started
        if chunk is None:
            break
        rows += len(chunk)
        started = clock()
        classified = classify_chunk(chunk, request.tz, request.file_date, live_table=False)
        spent["classify"] += clock() - started
        started = clock()
        for seen in classified.fresh:
            open_rows.add(seen)
        spent["open"] += clock() - started
        _digest(digest, (classified.events, classified.rejects, classified.sightings))
        if open_rows.count >= flush_at or open_rows.bytes >= importer.FLUSH_BYTES:
            started = clock()
            ready = open_rows.take_quiet(request)
            spent["flush"] += clock() - started
            flush_at = max(importer.FLUSH_ROWS, importer.FLUSH_CARRIED * open_rows.count)
            conversations += len(ready)
            _digest(digest, ready)
    started = clock()
    rest = importer.assemble(open_rows.all_rows(), request.enterprise, request.tz, request.flow.data_source)
    spent["assemble"] += clock() - started
    conversations += len(rest)
    _digest(digest, rest)
    gc.enable()
    total = sum(spent.values())
    return {
        "rows": rows, "conversations": conversations,
        **{f"{stage}_us_per_row": round(seconds / max(rows, 1) * 1e6, 2) for stage, seconds in spent.items()},
        "total_us_per_row": round(total / max(rows, 1) * 1e6, 2),
        "digest": digest.hexdigest()[:16],
    }


def _digest(digest: hashlib._Hash, value: object) -> None:
    # repr, not pickle: equal values give equal text whichever objects happen to be shared
    digest.update(repr(value).encode("utf-8", "surrogatepass"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("file", type=Path, help="a Listen_AMI_YYYY-MM-DD.db day file")
    parser.add_argument("--tz", default="Europe/Moscow", help="the PBX's zone (default: %(default)s)")
    args = parser.parse_args(argv)
    for key, value in run(args.file, args.tz).items():
        print(f"{key:24s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
