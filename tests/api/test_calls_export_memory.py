"""``GET /calls?format=csv`` streams with flat memory: a real ``asterisk-pipeline serve`` process
exports 200,000 calls (PostgreSQL, rows inserted directly) while its RSS is sampled; the memory
it gains after the first tenth of the stream is a small fraction of the bytes it sends.

The issue's 1,000,000 conversations are measured by ``benchmarks/calls_search.py``; this size
keeps the test under a minute and still shows a leak (one page held per row would add > 50 MB).
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
from sqlalchemy import text

from asterisk_pipeline.warehouse.db import make_engine
from tests.support.api import NOWHERE
from tests.support.sidecar import serve, stop_serving

CALLS = 200_000
#: The most the sidecar may grow while it streams the last nine tenths of the export.
MAX_GROWTH_MB = 15.0

_FILL = (
    ("INSERT INTO enterprises (number, name, host, secret, is_enabled, active)"
    " VALUES ('0327', 'VOS', 'vos.lan', 's3cr3t', true, true)"),
    ("INSERT INTO calls (unique_id, enterprise_id, token, start_time, end_time, duration, phone_number, phone_key,"
    " main_extension, extensions_count, call_type, call_status, is_answered, answered_by, final_extension,"
    " transfer_chain, leg_count, shape, data_source, asterisk_host)"
    " SELECT '1751500000.' || i, '0327', 's3cr3t', timestamptz '2025-07-01 00:00:00+00' + i * interval '7 seconds',"
    " timestamptz '2025-07-01 00:01:30+00' + i * interval '7 seconds', 90, '+37529' || (1000000 + i % 50000),"
    " '29' || (1000000 + i % 50000), '2' || (i % 40), 1, (i % 3)::text, CASE WHEN i % 2 = 0 THEN '2' ELSE '0' END,"
    " i % 2 = 0, CASE WHEN i % 2 = 0 THEN '2' || (i % 40) END, CASE WHEN i % 2 = 0 THEN '2' || (i % 40) END,"
    " CASE WHEN i % 2 = 0 THEN json_build_array('2' || (i % 40)) ELSE '[]'::json END, 1,"
    " CASE WHEN i % 2 = 0 THEN 'direct' ELSE 'unanswered' END, 'downloaded', 'vos.lan'"
    " FROM generate_series(1, :n) i"),
    "ANALYZE calls",
)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_csv_export_streams_with_flat_memory(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        for sql in _FILL:
            conn.execute(text(sql), {"n": CALLS})
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
    env.update(ASTERISK_HOME=str(tmp_path / "home"), ASTERISK_DATABASE_URL=pg_url)
    process, api = serve(env, NOWHERE, tmp_path / "serve.log")
    try:
        lines, sent, samples = 0, 0, []
        with httpx.stream("GET", f"{api}/calls", params={"format": "csv", "enterprise_id": "0327"}, timeout=120) as answer:
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
            for chunk in answer.iter_text():
                sent += len(chunk)
                lines += chunk.count("\n")
                if lines >= CALLS // 10 and (not samples or lines - samples[-1][0] >= CALLS // 50):
                    samples.append((lines, _rss_mb(process.pid)))
        assert lines == CALLS + 1  # the header and every call
        warm = samples[0][1]
        growth = max(rss for _, rss in samples) - warm
        print(f"\nexported {CALLS} calls, {sent / 2**20:.0f} MB of CSV; sidecar RSS {warm:.0f} MB after "
              f"{samples[0][0]} lines, growth after that {growth:.1f} MB over {len(samples)} samples")
        assert sent > 20 * 2**20  # the export is far larger than the growth allowed
        assert growth <= MAX_GROWTH_MB, samples
    finally:
        stop_serving(process)
