"""The ``missed_calls`` asset (per-partition figures) and its WARN check (SPEC §4.7)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import AssetCheckSeverity, DagsterInstance, materialize
from sqlalchemy import Engine, text

from asterisk_pipeline.defs.missed import build_missed_calls, missed_calls_followed_up
from asterisk_pipeline.defs.resources import FleetResource, QualityThresholds, WarehouseResource
from asterisk_pipeline.model import Flow
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS as ENTERPRISES
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from tests.support.defs import add_enterprises, enterprise, settings_without_env
from tests.support.missed import (
    FIRST,
    SECOND,
    day_file,
    incoming,
    load_missed_days,
    missed_day_files,
)


def test_a_partition_reports_its_missed_calls_resolved_share_and_median(engine: Engine, db_url: str, tmp_path: Path) -> None:
    add_enterprises(engine, "0327")
    load_missed_days(engine, Fleet.load(Settings(home=tmp_path)), enterprise("0327"), missed_day_files(tmp_path), [SECOND, FIRST])
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ENTERPRISES, ["0327"])
    resources = {"warehouse": WarehouseResource(database_url=db_url),
                 "fleet": FleetResource(transport="local", local_logs_dir=str(tmp_path), home=str(tmp_path / "h"))}
    asset = build_missed_calls(settings_without_env())
    result = materialize([asset], partition_key=f"{FIRST}|0327", instance=instance, resources=resources)
    assert result.success
    (event,) = result.asset_materializations_for_node("missed_calls_figures")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert (meta["missed"], meta["called_back"], meta["got_through"], meta["expired"]) == (4, 1, 1, 2)
    assert meta["resolved_share"] == 0.5 and meta["median_seconds_to_callback"] == 82900.0
    quiet = materialize([asset], partition_key=f"{SECOND}|0327", instance=instance, resources=resources)
    (event,) = quiet.asset_materializations_for_node("missed_calls_figures")
    assert event.metadata["missed"].value == 1 and event.metadata["median_seconds_to_callback"].value is None


def test_the_check_warns_about_missed_calls_left_open(engine: Engine, db_url: str, tmp_path: Path) -> None:
    add_enterprises(engine, "0327")
    warehouse = WarehouseResource(database_url=db_url)
    assert missed_calls_followed_up(warehouse=warehouse, quality_thresholds=QualityThresholds()).passed
    start = (datetime.now(ZoneInfo("Europe/Minsk")) - timedelta(minutes=20)).replace(microsecond=0, tzinfo=None)
    path = day_file(tmp_path, start.date(), incoming("1700000000.1", start.isoformat(" "), "+375291112233", answered=False))
    assert import_day_file(engine, Fleet.load(Settings(home=tmp_path)), enterprise("0327"),
                           LocalDayFile(path, Flow.HISTORY, start.date())).ok
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM missed_calls")).scalar_one() == "open"
    patient = missed_calls_followed_up(warehouse=warehouse, quality_thresholds=QualityThresholds(missed_open_alert_hours=1))
    assert patient.passed
    strict = missed_calls_followed_up(warehouse=warehouse, quality_thresholds=QualityThresholds(missed_open_alert_hours=0.1))
    assert not strict.passed and strict.severity == AssetCheckSeverity.WARN
    assert strict.metadata["by_enterprise"].value == {"0327": 1}
