"""The one unit of work and the cycles over it: fetch → read → classify → assemble → write → record.

``unit`` runs one (enterprise, day file, flow) and records its outcome; ``importer`` is the read
itself, top-down; ``fleet`` reaches the PBXes (live cycle, history ranges); ``rebuild``
re-assembles stored conversations. Every shell (CLI, Dagster, the sidecar through Dagster)
calls these.
"""
from .unit import SyncOutcome, import_day_file, new_run_record, record_failure, run_import

__all__ = ["SyncOutcome", "import_day_file", "new_run_record", "record_failure", "run_import"]
