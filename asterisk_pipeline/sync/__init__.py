"""The one unit of work and the cycles over it: fetch → read → classify → assemble → write → record.

The front door, for every shell (CLI, Dagster, the sidecar through Dagster), each handed the one
``Fleet`` its shell built: the live cycle over the fleet (``live_cycle``; ``sync_live`` for one
enterprise), the history flow (``sync_history_day``, ``sync_history_range``; ``SyncRun`` says which run asks and how) and the import of a
day file on local disk (``import_day_file``); each ends in a ``SyncOutcome``.

Inside: ``cycles`` reaches the PBXes, ``unit`` runs one import and records its outcome,
``importer`` is the read itself, top-down, ``sources`` where its rows come from. Beside them,
``rebuild`` re-assembles stored conversations and ``explain`` says why a call is one call.
"""
from .cycles import (
    CycleReport,
    SyncRun,
    live_cycle,
    sync_history_day,
    sync_history_range,
    sync_live,
)
from .unit import LocalDayFile, SyncOutcome, import_day_file

__all__ = [
    "CycleReport",
    "LocalDayFile",
    "SyncOutcome",
    "SyncRun",
    "import_day_file",
    "live_cycle",
    "sync_history_day",
    "sync_history_range",
    "sync_live",
]
