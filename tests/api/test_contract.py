"""The sidecar names Dagster things without importing the code location (DESIGN.md): these
names must stay equal to the definitions'."""
from __future__ import annotations

from datetime import date

from asterisk_pipeline.api import syncs
from asterisk_pipeline.defs import defs
from asterisk_pipeline.defs.assets import HISTORY_KEYS, HistorySyncConfig
from asterisk_pipeline.defs.live import LIVE_JOB_NAME, LIVE_TAGS, LiveSyncConfig
from asterisk_pipeline.defs.partitions import ENTERPRISES, history_partitions


def test_names_match_the_definitions() -> None:
    assert syncs.LIVE_JOB == LIVE_JOB_NAME and defs.get_job_def(syncs.LIVE_JOB)
    assert syncs.HISTORY_ASSETS == tuple(k.path[-1] for k in HISTORY_KEYS)
    assert syncs.ENTERPRISES_PARTITIONS == ENTERPRISES
    assert LIVE_TAGS[syncs.TAG_FLOW] == "live"
    assert "enterprises" in LiveSyncConfig.model_fields and "force" in HistorySyncConfig.model_fields


def test_partition_keys_are_the_multi_partition_keys_dagster_uses() -> None:
    keys = syncs.history_partition_keys(["0327"], date(2025, 7, 1), date(2025, 7, 2))
    assert keys == ["2025-07-01|0327", "2025-07-02|0327"]
    key = history_partitions.get_partition_key_from_str(keys[0])
    assert key.keys_by_dimension == {"date": "2025-07-01", "enterprise": "0327"}
