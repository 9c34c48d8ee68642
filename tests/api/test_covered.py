"""Which enterprises a run or backfill covers, from its tags (the 409 decision)."""
from __future__ import annotations

from asterisk_pipeline.api.syncs import covered_enterprises, overlaps
from asterisk_pipeline.names import ALL_ENTERPRISES, TAG_COVERED, TAG_ENTERPRISES


def test_a_run_for_all_that_read_the_registry_covers_only_what_it_read() -> None:
    tags = {TAG_ENTERPRISES: ALL_ENTERPRISES, TAG_COVERED: "0100,0200,0201,0327,0367"}
    assert covered_enterprises(tags) == {"0100", "0200", "0201", "0327", "0367"}
    assert not overlaps(tags, ["0999"])  # added after the run started: the sync may start
    assert overlaps(tags, ["0327"])


def test_a_run_for_all_not_started_yet_covers_everyone() -> None:
    assert covered_enterprises({TAG_ENTERPRISES: ALL_ENTERPRISES}) is None
    assert overlaps({}, ["0999"])  # the schedule's run without tags reads the registry later


def test_a_run_for_some_covers_those() -> None:
    assert covered_enterprises({TAG_ENTERPRISES: "0100,0327", TAG_COVERED: "0100"}) == {"0100", "0327"}
    assert covered_enterprises({TAG_ENTERPRISES: ALL_ENTERPRISES, TAG_COVERED: ""}) == set()
