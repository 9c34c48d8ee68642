"""A read forgets a conversation once it has ended (issue 21: memory is what is open at once).

The recorded attended transfer (2-18) is the case that stayed open: its agents each enter the
caller's bridge, then the consultation's, and leave only that one. Counting entries against
leaves held every such call to the end of the file; a channel whose latest bridge row is a
leave has left."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from asterisk_pipeline.classified import classify_chunk
from asterisk_pipeline.model import Flow, SourceRow
from asterisk_pipeline.sync.importer import ImportRequest, OpenConversations
from tests.support.conversations.examples import ENT, day_of, load_example, rows_of

ZONE = ZoneInfo("Europe/Minsk")


def _open(rows: list[tuple[Any, ...]], request: ImportRequest) -> OpenConversations:
    """The example's rows, then one row of another call ten minutes after its last."""
    last = max(datetime.fromisoformat(r[0]) for r in rows)
    later = (last + timedelta(minutes=10)).isoformat(sep=" ")
    marker = (later, "start", "9999999999.1", json.dumps({"UniqueId": "9999999999.1", "Phone": "375290000001"}),
              rows[0][4])
    source = [SourceRow(i, *row) for i, row in enumerate([*rows, marker], start=1)]
    open_rows = OpenConversations()
    for seen in classify_chunk(source, request.tz, request.file_date, live_table=False).fresh:
        open_rows.add(seen)
    return open_rows


def test_a_transfer_whose_agents_enter_two_bridges_and_leave_one_is_written_once_quiet():
    example = load_example("2-18")
    request = ImportRequest(ENT, Flow.HISTORY, day_of(example), ZONE)
    rows = rows_of(example)
    open_rows = _open(rows, request)
    uids = set(open_rows.rows) - {"9999999999.1"}

    ready = open_rows.take_quiet(request)

    assert len(ready) == 1
    assert set(ready[0].unique_ids) == uids
    assert set(example["expected"]["conversations"][0]["legs"]) <= uids
    assert set(open_rows.rows) == {"9999999999.1"}, "the written conversation's rows are forgotten"


def test_a_channel_whose_latest_bridge_row_is_an_entry_keeps_its_conversation_open():
    """The agent who talks last has not left its bridge (a long talk without rows)."""
    example = load_example("2-18")
    request = ImportRequest(ENT, Flow.HISTORY, day_of(example), ZONE)
    last_agent = "SIP/150-00000009"
    rows = [r for r in rows_of(example)
            if not (r[1] == "bridge_leave" and json.loads(r[3]).get("Channel") == last_agent)]
    open_rows = _open(rows, request)

    held = set(open_rows.rows)

    assert open_rows.take_quiet(request) == []
    assert set(open_rows.rows) == held
