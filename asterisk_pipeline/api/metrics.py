"""Prometheus text exposition of the warehouse's sync state (pure: data in, text out)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..fleet_health import STATUSES, Health


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
    health: list[Health] = field(default_factory=list)  # fleet health (SPEC §4.8), skipped rows too


Family = Callable[[str, str, str, list[tuple[str, float]]], None]


def _health_families(family: Family, health: list[Health], now: datetime) -> None:
    """Per-enterprise status (one series per status, 1 for the current one) and event lag."""
    named = [h for h in health if h.status != "skipped"]
    family("asterisk_enterprise_status", "gauge",
           "Fleet health (SPEC §4.8): 1 for the enterprise's current status, 0 for the others.",
           [(_labels(enterprise=h.evidence.enterprise, status=s), float(h.status == s))
            for h in named for s in STATUSES if s != "skipped"])
    family("asterisk_enterprise_event_lag_seconds", "gauge",
           "Seconds since the newest stored event of the enterprise (-1: none yet).",
           [(_labels(enterprise=h.evidence.enterprise),
             (now - h.evidence.newest_event_at).total_seconds() if h.evidence.newest_event_at else -1)
            for h in named])
    family("asterisk_enterprise_consecutive_failures", "gauge",
           "Failed live syncs since the enterprise's last successful one.",
           [(_labels(enterprise=h.evidence.enterprise), h.evidence.consecutive_failures) for h in named])
    family("asterisk_enterprises_skipped", "gauge",
           "Active enterprises rows skipped for an unsafe number (SPEC §3).",
           [("", float(sum(h.status == "skipped" for h in health)))])


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
    rejected: dict[str, float] = defaultdict(float)
    failing: dict[str, float] = defaultdict(float)
    for row in download_sync:
        rows[row["enterprise_id"]] += row["total_downloaded"]
        rejected[row["enterprise_id"]] += row["failed_events"]
        failing[row["enterprise_id"]] = max(failing[row["enterprise_id"]], float(row["status"] == "failing"))
    family("asterisk_rows_read_total", "counter", "Source rows read from the PBX day files, all time.",
           [(_labels(enterprise=e), v) for e, v in sorted(rows.items())])
    family("asterisk_sync_failures_total", "counter", "Failed syncs (sync_runs with status failed).",
           [(_labels(enterprise=e, flow=f), n) for e, f, s, n in sorted(sync_counts) if s == "failed"])
    family("asterisk_rows_rejected_total", "counter",
           "Source rows rejected (unparsable or missing what a call needs), all time.",
           [(_labels(enterprise=e), v) for e, v in sorted(rejected.items())])
    family("asterisk_pbx_failing", "gauge", "1 while the newest sync outcome of the PBX is a failure.",
           [(_labels(enterprise=e), v) for e, v in sorted(failing.items())])
    _health_families(family, state.health, now)
    for flow, last in (("live", last_live), ("history", last_history)):
        family(f"asterisk_last_{flow}_success_age_seconds", "gauge",
               f"Seconds since the last successful {flow} sync of each active enterprise (-1: never).",
               [(_labels(enterprise=e), (now - t).total_seconds() if t else -1) for e, t in sorted(last.items())])
    family("asterisk_calls", "gauge", "Calls in the warehouse per enterprise and data source.",
           [(_labels(enterprise=r["enterprise_id"], data_source=r["data_source"]), r["count"]) for r in breakdown])
    return "\n".join(lines) + "\n"
