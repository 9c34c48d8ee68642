"""``calls show --explain`` on the two recorded production calls, through the CLI, checked
against their rows: every leg's rule and the rows that linked it, every holder's bridge rows,
every 'no_answer' participant's reason (SPEC §4.2)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asterisk_pipeline.model import LINKS, SHAPES
from tests.support.conversations.examples import (
    ENT,
    day_of,
    example_names,
    load_example,
    rows_of,
    spec_expected,
)
from tests.support.factories import append, create_day_file


def _cli(tmp_path: Path, db: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "asterisk_pipeline.cli", *args, "--db", db],
        capture_output=True, text=True, check=False,
        env={"ASTERISK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("strip", [False, True], ids=["bridge-ids", "production-apilogs"])
@pytest.mark.parametrize("name", example_names())
def test_explain_cites_the_rows_that_make_the_call(tmp_path: Path, name: str, strip: bool):
    example = load_example(name)
    expected = spec_expected(example)[0]
    day = day_of(example)
    path = create_day_file(tmp_path / f"Listen_AMI_{day}.db")
    append(path, rows_of(example, strip), "APIlogs")
    db = f"sqlite:///{tmp_path / 'central.db'}"
    _cli(tmp_path, db, "db", "upgrade")
    _cli(tmp_path, db, "enterprise", "add", ENT.number, "--name", "VOS", "--host", "vos.vochi.lan", "--secret", "s3")
    _cli(tmp_path, db, "import-file", str(path), "--enterprise", ENT.number, "--flow", "history")
    primary = expected["legs"][0]
    shown = json.loads(_cli(tmp_path, db, "calls", "show", expected["legs"][-1], "--explain", "--json"))
    why = shown["explain"]
    source: dict[int, dict[str, Any]] = {
        i: {**r, "body": json.loads(r["request"])} for i, r in enumerate(example["rows"], start=1)
    }

    def cited(ref: dict[str, Any]) -> dict[str, Any]:
        """The example row a reference names: same table, file, id, event and UniqueId."""
        assert (ref["table"], ref["file_date"]) == ("APIlogs", day.isoformat())
        row = source[ref["source_id"]]
        assert (row["event"], row["Uniqueid"]) == (ref["event"], ref["unique_id"])
        return row

    assert why["same_as_stored"] and why["table"] == "APIlogs"
    assert why["shape"] == shown["call"]["shape"] and why["shape"] in SHAPES
    # every leg, with the rule that linked it — the same link the warehouse stores
    assert why["legs"][0]["unique_id"] == primary
    assert {leg["unique_id"] for leg in why["legs"]} == set(expected["legs"])
    stored = {leg["unique_id"]: leg["link"] for leg in shown["legs"]}
    for leg in why["legs"]:
        assert leg["link"] in LINKS and stored[leg["unique_id"]] == leg["link"] and leg["rule"]
        rows = [cited(ref) for ref in leg["rows"]]
        assert rows
        if leg["link"] == "primary":
            assert rows[0]["event"] == "start"
        elif leg["link"] == "bridge":  # both channels in that bridge, named on the rows that carry it
            assert {r["Uniqueid"] for r in rows} == {leg["unique_id"], leg["linked_to"]}
            assert all(r["event"] in ("bridge", "bridge_leave") for r in rows)
            assert all(r["body"].get("BridgeUniqueid", leg["on"]) == leg["on"] for r in rows)
            assert any(r["body"].get("BridgeUniqueid") == leg["on"] for r in rows)
        elif leg["link"] == "local":  # the two halves of one Local channel name
            channels = {r["body"]["Channel"].rsplit(";", 1)[0] for r in rows}
            assert channels == {leg["on"]} and {r["Uniqueid"] for r in rows} == {leg["unique_id"], leg["linked_to"]}
        else:  # forwarding: a dial ringing the target
            assert any(r["event"] == "dial" for r in rows)
    # every holder of the chain, with the bridge rows that made it one
    assert [entry["party"] for entry in why["chain"]] == expected["transfer_chain"]
    for entry in why["chain"]:
        assert entry["rows"]
        for ref in entry["rows"]:
            row = cited(ref)
            assert row["event"] in ("bridge", "bridge_leave")
            if ref["reading"] in ("connected", "last leave"):
                assert row["body"]["ConnectedLineNum"] == entry["party"]
            elif ref["reading"] == "joined":
                assert row["body"]["ConnectedLineNum"] == expected["external_number"]
    # every participant that never held the call, with a reason and the rows behind it
    missed = [p for p in expected["rang"] if p not in expected["transfer_chain"]]
    assert [item["party"] for item in why["no_answer"]] == missed
    for item in why["no_answer"]:
        assert item["why"] and item["rows"]
        assert any(item["party"] in cited(ref)["body"].get("Extensions", []) for ref in item["rows"])
    # the text form says the same
    text_out = _cli(tmp_path, db, "calls", "show", primary, "--explain")
    assert "why one call (rows of APIlogs)" in text_out
    for leg in why["legs"]:
        assert f"{leg['unique_id']:<18} {leg['link']:<10} {leg['rule']}" in text_out
    for item in why["no_answer"]:
        assert f"{item['party']} did not answer: {item['why']}" in text_out
