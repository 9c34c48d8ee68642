"""``calls show --explain``: why a stored call is one call (SPEC §4.2).

The explanation is not a second set of rules: the call's stored rows (its legs' sightings, the
same rows an import or ``calls rebuild`` reads) are assembled again by the pure core with its
record switched on, and the conversation holding the call's primary says which rule and source
rows linked every leg, which bridge rows made each holder, and why each other participant did not
answer.
"""
from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..conversations import assemble
from ..model import HISTORY_TABLE, LIVE_TABLE, Enterprise
from ..warehouse import conversation_store as store
from .importer import stored_conv_row


def explain_call(conn: Connection, enterprise: Enterprise, tz: ZoneInfo, detail: dict[str, Any]) -> dict[str, Any]:
    """The ``explain`` object of ``calls show`` for one call (``call_view.call_detail``).

    The rows are read from the table of the flow that wrote the call first (it keeps it, SPEC
    §4.3), then from the other table when that one holds no such conversation.
    """
    call = detail["call"]
    uids = [leg["unique_id"] for leg in detail["legs"]]
    tables = (LIVE_TABLE, HISTORY_TABLE) if call["data_source"] == "live" else (HISTORY_TABLE, LIVE_TABLE)
    for table in tables:
        rows = [
            seen for stored in store.sightings_of(conn, enterprise.number, table, uids)
            for seen in [stored_conv_row(stored, table == LIVE_TABLE)] if seen is not None
        ]
        if not rows:
            continue
        for conv in assemble(rows, enterprise, tz, call["data_source"], explain=True):
            if conv.call is not None and conv.call.unique_id == call["unique_id"] and conv.explain:
                found = dict(conv.explain)
                found["table"] = table
                # what the stored call says is what these rows give (else: rebuild it)
                found["same_as_stored"] = (
                    set(conv.unique_ids) == set(uids)
                    and json.loads(conv.call.transfer_chain) == call["transfer_chain"]
                    and conv.call.shape == call.get("shape")
                )
                return found
    return {"table": None, "legs": [], "chain": [], "no_answer": [], "same_as_stored": False,
            "note": "no stored rows assemble into this call (imported by a version without sightings,"
                    " or migrated): run `calls rebuild`"}

