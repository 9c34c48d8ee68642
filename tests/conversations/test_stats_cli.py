"""Statistics over conversations through the CLI (SPEC §4.5): per PBX-local day and per extension."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conversations import shapes
from tests.conversations.shapes import Pbx
from tests.factories import append, create_day_file


def _cli(db: str, home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "asterisk_pipeline.cli", *args, "--db", db],
        capture_output=True, text=True, check=False, env={"ASTERISK_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_stats_count_conversations_by_pbx_day_and_extension(tmp_path: Path):
    pbx = Pbx(start="2025-07-03 00:20:00", epoch=1751491200)  # 00:20 in Minsk is 21:20 UTC the day before
    shapes.attended_transfer(pbx, 0, "375291112233", ["151", "152", "150"])
    shapes.forwarded_to_mobile(pbx, 300, "375291112244", "150", "375290000002")
    unanswered = pbx.uid(600)
    pbx.start(600, unanswered, "375291112255", pbx.chan(shapes.TRUNK))
    pbx.dial(601, unanswered, "375291112255", ["151", "153"])
    pbx.hangup(630, unanswered, phone="375291112255", extensions=["151", "153"], call_type=0, status="0", start=600)
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, pbx.sorted_rows(strip_bridge_ids=True), "APIlogs")
    db, home = f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "home"
    _cli(db, home, "db", "upgrade")
    _cli(db, home, "enterprise", "add", "0327", "--name", "VOS")
    _cli(db, home, "import-file", str(path), "--enterprise", "0327", "--flow", "history")

    [day] = json.loads(_cli(db, home, "stats", "--json", "--by-day"))
    assert day["day"] == "2025-07-03"  # the PBX's day, not the UTC one
    assert (day["calls"], day["answered"], day["transfers"]) == (3, 2, 2)
    assert day["legs_folded"] == 7 + 3  # transfer: 2 hops of three legs + the answerer; FollowMe: Local pair + desk

    by_extension = {row["extension"]: row for row in json.loads(_cli(db, home, "stats", "--json", "--by-extension"))}
    assert {k: (v["rang"], v["answered"], v["missed"]) for k, v in by_extension.items()} == {
        "150": (2, 2, 0), "151": (2, 1, 1), "152": (1, 1, 0), "153": (1, 0, 1),
        "375290000002": (1, 0, 1),
    }
    table = _cli(db, home, "stats", "--by-extension")
    assert table.splitlines()[0].split() == ["enterprise", "extension", "rang", "answered", "missed"]
