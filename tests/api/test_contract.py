"""The sidecar names Dagster things through ``asterisk_pipeline.names`` without importing the
code location (DESIGN.md): the definitions must carry those same names."""
from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

from asterisk_pipeline import names
from asterisk_pipeline.api import syncs
from asterisk_pipeline.defs.assets import HISTORY_KEYS, HistorySyncConfig
from asterisk_pipeline.defs.live import LIVE_TAGS, LiveSyncConfig
from asterisk_pipeline.defs.partitions import history_partitions
from tests.support.defs import DEFAULT_DEFS as defs
from tests.support.defs import DEFAULTS

API = Path(syncs.__file__).parent


def test_names_match_the_definitions() -> None:
    assert defs.resolve_job_def(names.LIVE_JOB).tags[names.TAG_FLOW] == names.FLOW_LIVE
    assert names.HISTORY_ASSETS == tuple(k.path[-1] for k in HISTORY_KEYS)
    assert defs.resolve_assets_def(names.CALLS).node_def.name == names.HISTORY_OP
    assert LIVE_TAGS == {names.TAG_FLOW: names.FLOW_LIVE}
    assert "enterprises" in LiveSyncConfig.model_fields and "force" in HistorySyncConfig.model_fields
    assert names.LIVE_OP in {n.name for n in defs.resolve_job_def(names.LIVE_JOB).nodes}


def test_the_sidecar_never_imports_the_code_location() -> None:
    for path in API.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert "defs" not in module.split("."), f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                assert not any(".defs" in a.name for a in node.names), path.name


def test_partition_keys_are_the_multi_partition_keys_dagster_uses() -> None:
    keys = syncs.history_partition_keys(["0327"], date(2025, 7, 1), date(2025, 7, 2))
    assert keys == ["2025-07-01|0327", "2025-07-02|0327"]
    key = history_partitions(DEFAULTS).get_partition_key_from_str(keys[0])
    assert key.keys_by_dimension == {
        names.DATE_DIMENSION: "2025-07-01", names.ENTERPRISE_DIMENSION: "0327"
    }
