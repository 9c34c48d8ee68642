"""Busy day: per conversation shape, how many conversations the import gets right, and the
import throughput of such a day against its same-run COPY baseline.

Why: issue 19 wants every shape right on a day where thousands of conversations are in progress
at once and share extensions, trunks and caller numbers (``asterisk-pipeline simulate --busy``);
the expected share is 100 %. The day is imported into a fresh PostgreSQL database with
``import-file --flow history`` exactly as ``import_throughput`` does (same child processes, same
COPY baseline, ``one_repetition``), then compared with the simulator's ground truth, conversation
by conversation (``tests/support/conversations/busy_day.py``, the same comparison the tests make).
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from asterisk_pipeline.warehouse.db import make_engine
from benchmarks.import_throughput import (
    BENCH_DATA,
    ROOT,
    Input,
    one_repetition,
    print_report,
    sanity_problems,
    summarize,
    targets,
)
from tests.support.conversations.busy_day import (
    CORE_FIELDS,
    SHAPE_FIELDS,
    Verdict,
    compare,
    picture,
    write_busy_day,
)

FULL_CONVERSATIONS = 20_000
QUICK_CONVERSATIONS = 2_000
SEED = 19


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    calls = QUICK_CONVERSATIONS if quick else FULL_CONVERSATIONS
    print(f"== shapes_busy_day ({'quick' if quick else 'full'}, {calls:,} conversations at once, "
          f"{repeat} repetition(s)) ==", flush=True)
    started = time.perf_counter()
    summary = write_busy_day(BENCH_DATA / f"busy-{calls}-{SEED}", calls, seed=SEED)
    source_rows = summary.rows["APIlogs"]
    print(f"generated {summary.path.relative_to(ROOT)}: {source_rows:,} APIlogs rows in "
          f"{time.perf_counter() - started:.1f} s (ground truth beside it)", flush=True)
    verdicts: list[tuple[Verdict, Verdict]] = []

    def inspect(url: str) -> None:
        engine = make_engine(url)
        try:
            seen = picture(engine)
        finally:
            engine.dispose()
        verdicts.append((compare(seen, summary.conversations, CORE_FIELDS),
                         compare(seen, summary.conversations, (*CORE_FIELDS, *SHAPE_FIELDS))))

    reps = []
    for i in range(1, repeat + 1):
        reps.append(one_repetition(summary.path, reimports=False, inspect=inspect))
        print(f"  rep {i}/{repeat}: baseline {reps[-1]['baseline']['seconds']:.2f} s, "
              f"import {reps[-1]['import']['seconds']:.2f} s", flush=True)
    core, full = verdicts[0]  # the same rows give the same warehouse every repetition
    _print_shapes(core, full)
    fig = summarize(reps, source_rows)
    spec = Input("busy day", "simulator", calls, False, False)
    checks = targets(fig, spec)
    problems = sanity_problems(reps, source_rows)
    problems += [f"rep {i}: the warehouse differs from rep 1" for i, (c, f) in enumerate(verdicts[1:], 2)
                 if (c.per_shape, f.per_shape) != (core.per_shape, full.per_shape)]
    command = f"cd {ROOT} && .venv/bin/python -m benchmarks --only shapes_busy_day" + (
        " --quick" if quick else "") + f" --repeat {repeat}"
    print_report(fig, checks, reps, source_rows, problems, command)
    result = {
        "benchmark": "shapes_busy_day", "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick, "repeat": repeat, "conversations": calls, "seed": SEED, "source_rows": source_rows,
        "per_shape": {shape: {"conversations": n, "match_core": good, "match_all": full.per_shape[shape][1]}
                      for shape, (n, good) in sorted(core.per_shape.items())},
        "differences": full.report().splitlines(),
        "figures": fig, "targets": [{k: v for k, v in c.items() if k != "fmt"} for c in checks],
        "sanity_problems": problems, "command": command,
    }
    out = BENCH_DATA / ("results-shapes-busy-day-quick.json" if quick else "results-shapes-busy-day.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"figures written to {out.relative_to(ROOT)}\n", flush=True)
    return result


def _print_shapes(core: Verdict, full: Verdict) -> None:
    """Per shape: conversations, matching on primary/legs/chain/participants, and on those plus
    shape and links."""
    print(f"\n{'shape':<24} {'conversations':>13} {'match (core)':>13} {'+shape,links':>13}")
    total = [0, 0, 0]
    for shape, (n, good) in sorted(core.per_shape.items()):
        every = full.per_shape[shape][1]
        total = [total[0] + n, total[1] + good, total[2] + every]
        print(f"{shape:<24} {n:>13,} {good:>13,} {every:>13,}")
    print(f"{'all':<24} {total[0]:>13,} {total[1]:>13,} {total[2]:>13,}  "
          f"({100 * total[1] / total[0]:.1f} % / {100 * total[2] / total[0]:.1f} %, expected 100 %)")
    if not full.ok:  # examples of each are in the results file
        print("differences from the ground truth (shape (scenario) field: conversations):")
        for (shape, scenario, name), n in sorted(full.wrong.items()):
            print(f"  {shape} ({scenario}) {name}: {n}")
        if full.phantom_calls or full.loose_legs:
            print(f"  calls that are no conversation: {len(full.phantom_calls)}, "
                  f"legs without a call: {len(full.loose_legs)}")
