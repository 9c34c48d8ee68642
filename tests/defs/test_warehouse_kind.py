"""The UI tags the warehouse assets with the database they are stored in: the SQLite demo was
tagged "Postgres"."""
from __future__ import annotations

import pytest

from asterisk_pipeline.defs import build_definitions
from tests.support.defs import settings_without_env

WAREHOUSE_ASSETS = {"calls", "call_participants", "call_events", "sync_statistics", "live_calls"}


@pytest.mark.parametrize(("url", "kind"), [
    (None, "sqlite"),
    ("sqlite:////tmp/x/asterisk.db", "sqlite"),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/warehouse", "postgres"),
])
def test_warehouse_assets_carry_the_configured_database_kind(url: str | None, kind: str) -> None:
    graph = build_definitions(settings_without_env(database_url=url)).resolve_asset_graph()
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}
    for name in WAREHOUSE_ASSETS:
        assert kind in kinds[name] and not {"sqlite", "postgres"} - {kind} & kinds[name], kinds
    assert kinds["pbx_day_files"] == {"sqlite", "ssh"}  # the PBX files are SQLite either way
