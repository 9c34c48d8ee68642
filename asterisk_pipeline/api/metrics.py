"""Prometheus text exposition of the warehouse's sync state (pure: data in, text out)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


@dataclass(frozen=True)
class SyncState:
    """What the metrics are made of, as the warehouse's queries return it: syncs per enterprise,
    flow and status; the download_sync rows; each enterprise's last successful live and history
    sync; calls per enterprise and data source."""

    sync_counts: list[tuple[str, str, str, int]]
    download_sync: list[dict[str, Any]]
    last_live: dict[str, datetime | None]
    last_history: dict[str, datetime | None]
    breakdown: list[dict[str, Any]]


def render_metrics(state: SyncState, now: datetime) -> str:
    lines: list[str] = []
    sync_counts, download_sync, breakdown = state.sync_counts, state.download_sync, state.breakdown
    last_live, last_history = state.last_live, state.last_history

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    family("asterisk_syncs_total", "counter", "Day-file syncs recorded in sync_runs.",
           [(_labels(enterprise=e, flow=f, status=s), n) for e, f, s, n in sorted(sync_counts)])
    rows: dict[str, float] = defaultdict(float)
    failed: dict[str, float] = defaultdict(float)
    failing: dict[str, float] = defaultdict(float)
    for row in download_sync:
        rows[row["enterprise_id"]] += row["total_downloaded"]
        failed[row["enterprise_id"]] += row["failed_events"]
        failing[row["enterprise_id"]] = max(failing[row["enterprise_id"]], float(row["status"] == "failing"))
    family("asterisk_rows_read_total", "counter", "Source rows read from the PBX day files, all time.",
           [(_labels(enterprise=e), v) for e, v in sorted(rows.items())])
    family("asterisk_sync_failures_total", "counter", "Failed syncs counted in download_sync.",
           [(_labels(enterprise=e), v) for e, v in sorted(failed.items())])
    family("asterisk_pbx_failing", "gauge", "1 while the newest sync outcome of the PBX is a failure.",
           [(_labels(enterprise=e), v) for e, v in sorted(failing.items())])
    for flow, last in (("live", last_live), ("history", last_history)):
        family(f"asterisk_last_{flow}_success_age_seconds", "gauge",
               f"Seconds since the last successful {flow} sync of each active enterprise (-1: never).",
               [(_labels(enterprise=e), (now - t).total_seconds() if t else -1) for e, t in sorted(last.items())])
    family("asterisk_calls", "gauge", "Calls in the warehouse per enterprise and data source.",
           [(_labels(enterprise=r["enterprise_id"], data_source=r["data_source"]), r["count"]) for r in breakdown])
    return "\n".join(lines) + "\n"
