"""Names the Dagster code location and the REST sidecar share, declared once.

``defs/`` builds its asset keys, jobs, schedules, pools and tags from these strings; ``api/``
starts runs and backfills and reads their tags by the same strings without importing ``defs/``
(DESIGN.md). Plain strings only (no Dagster import), so the sidecar stays light. Renaming one
renames it in the UI, the run-queue limits of ``dagster.yaml`` (``asterisk/flow=live``) and the
sidecar at once; ``tests/defs/test_definitions_snapshot.py`` makes such a change deliberate.
"""

from __future__ import annotations

from typing import Final

from .model import Flow

# --- assets (single-segment keys) ------------------------------------------------------------
PBX_DAY_FILES: Final = "pbx_day_files"
CALLS: Final = "calls"
CALL_PARTICIPANTS: Final = "call_participants"
CALL_EVENTS: Final = "call_events"
#: Everything one history sync materializes: a history backfill selects these three. The day
#: files (``PBX_DAY_FILES``) are their external upstream, drawn in the lineage, never materialized.
HISTORY_ASSETS: Final = (CALLS, CALL_PARTICIPANTS, CALL_EVENTS)
SYNC_STATISTICS: Final = "sync_statistics"
LIVE_CALLS: Final = "live_calls"
#: SPEC §4.7 missed calls and their follow-up, per (date, enterprise), downstream of calls.
MISSED_CALLS: Final = "missed_calls"

OWNERS: Final = ("team:data-platform",)
GROUP_HISTORY: Final = "history"
GROUP_LIVE: Final = "live"
GROUP_STATISTICS: Final = "statistics"

# --- partitions ------------------------------------------------------------------------------
#: The dynamic partitions the sensor keeps equal to the active enterprises.
ENTERPRISES_PARTITIONS: Final = "enterprises"
#: Dimension names of the history multi-partitions; a key reads ``<date>|<enterprise>``
#: because Dagster joins dimensions sorted by name.
DATE_DIMENSION: Final = "date"
ENTERPRISE_DIMENSION: Final = "enterprise"

# --- ops, jobs, schedules, sensors, pools ---------------------------------------------------
#: Op names double as the keys of run config (``{"ops": {HISTORY_OP: {"config": ...}}}``).
HISTORY_OP: Final = "history_sync"
LIVE_OP: Final = "live_sync"
LIVE_JOB: Final = "live_sync_job"
LIVE_SCHEDULE: Final = "live_sync_schedule"
CHECKS_JOB: Final = "warehouse_checks_job"
CHECKS_SCHEDULE: Final = "warehouse_checks_schedule"
ENTERPRISE_SENSOR: Final = "enterprise_partitions_sensor"
#: Concurrency pool of the history sync op (limits in dagster.yaml ``concurrency.pools``).
HISTORY_POOL: Final = "pbx_history"

# --- run tags --------------------------------------------------------------------------------
#: Which flow a run belongs to; ``dagster.yaml`` limits ``asterisk/flow=live`` to one run.
TAG_FLOW: Final = "asterisk/flow"
#: Enterprises a run/backfill covers: comma-separated numbers, or ``ALL_ENTERPRISES``.
TAG_ENTERPRISES: Final = "asterisk/enterprises"
#: Who started it (the sidecar writes ``TRIGGER_REST``).
TAG_TRIGGER: Final = "asterisk/trigger"
#: The enterprises a run really syncs, set by the run itself once it has read the registry (a
#: live run "for all" covers the enterprises active when it starts, not those added later).
TAG_COVERED: Final = "asterisk/covered"
#: Set by a Celery worker on each run it starts (asterisk_pipeline.workers.app): the worker's
#: node name, and a digest of the package sources that worker loaded.
TAG_CELERY_WORKER: Final = "asterisk/celery_worker"
TAG_CODE_VERSION: Final = "asterisk/code_version"
FLOW_LIVE: Final = Flow.LIVE.value
FLOW_HISTORY: Final = Flow.HISTORY.value
FLOW_CHECKS: Final = "checks"
ALL_ENTERPRISES: Final = "all"
TRIGGER_REST: Final = "rest-api"

# --- fleet health (SPEC §4.8) -----------------------------------------------------------------
#: The per-enterprise check on live_calls the live run reports for every partition it covers.
LIVE_SYNC_CHECK: Final = "live_sync_healthy"
#: Set by a live run on itself: the enterprises whose live sync failed (comma-separated; shown
#: in the runs list although the run succeeded).
TAG_FAILING: Final = "asterisk/failing"
