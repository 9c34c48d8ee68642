"""The busy day of the simulator against the warehouse, conversation by conversation.

Why a module: the busy-day tests and the ``shapes_busy_day`` benchmark hold the warehouse to the
same ground truth (:meth:`asterisk_pipeline.devtools.calls.SimCall.truth`) with the same comparison.
"""
from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.calls import SimCall, write_truth
from asterisk_pipeline.devtools.dayfile import DayFileSummary, write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for

ENTERPRISE = "0327"
DAY = date(2025, 7, 3)
#: what the assembly has computed since issue 13 / what issue 19 adds (calls.shape, call_legs.link)
CORE_FIELDS: tuple[str, ...] = ("primary", "legs", "chain", "participants")
SHAPE_FIELDS: tuple[str, ...] = ("shape", "links")
_COLUMNS = "DateTime, event, Uniqueid, request, status, response, responseTime"


def write_busy_day(root: Path, calls: int, seed: int = 19) -> DayFileSummary:
    """A busy day of ``calls`` conversations (half of them multi-UniqueId), without dirt: the
    truth is about conversations, malformed rows are another suite's business."""
    path = day_file_path(root, ENTERPRISE, DAY)
    summary = write_day_file(path, token=token_for(ENTERPRISE), day=DAY, calls=calls,
                                 seed=seed, dirty_share=0.0, complex_share=0.5, busy=True)
    write_truth(path, summary.conversations)
    return summary


def source_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as con:
        return con.execute(f"SELECT {_COLUMNS} FROM {table} ORDER BY id").fetchall()


def cycles(rows: Sequence[tuple[Any, ...]], sizes: Iterator[int]) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The rows in consecutive slices of the given sizes (live cycles)."""
    start = 0
    while start < len(rows):
        step = next(sizes)
        yield rows[start:start + step]
        start += step


def append_rows(path: Path, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Append source rows in one commit (a cycle's worth of what the listener wrote)."""
    with sqlite3.connect(path) as con:
        con.executemany(f"INSERT INTO {table} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass
class Picture:
    """The warehouse's conversations, keyed by primary UniqueId, in the truth's terms."""

    calls: dict[str, dict[str, Any]]
    loose_legs: list[str]  # call_legs rows without a call


def picture(engine: Engine, enterprise: str = ENTERPRISE) -> Picture:
    with engine.connect() as conn:
        params = {"e": enterprise}
        calls = {
            row.id: {"primary": row.unique_id, "chain": _json(row.transfer_chain), "shape": row.shape,
                     "legs": {}, "participants": {}}
            for row in conn.execute(text(
                "SELECT id, unique_id, transfer_chain, shape FROM calls WHERE enterprise_id = :e"), params)
        }
        loose = []
        for call_id, uid, link in conn.execute(text(
                "SELECT call_id, unique_id, link FROM call_legs WHERE enterprise_id = :e"), params):
            if call_id is None:
                loose.append(uid)
            else:
                calls[call_id]["legs"][uid] = link
        for call_id, party, status in conn.execute(text(
                "SELECT p.call_id, p.extension, p.participant_status FROM call_participants p"
                " JOIN calls c ON c.id = p.call_id WHERE c.enterprise_id = :e"), params):
            calls[call_id]["participants"][party] = status
    return Picture({c["primary"]: c for c in calls.values()}, sorted(loose))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class Verdict:
    """Per SPEC shape: conversations and how many match on every field compared; what differs."""

    fields: tuple[str, ...]
    per_shape: dict[str, list[int]] = field(default_factory=dict)  # shape -> [conversations, matching]
    wrong: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (shape, scenario, field)
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    phantom_calls: list[str] = field(default_factory=list)  # calls the truth does not have
    loose_legs: list[str] = field(default_factory=list)  # legs without a call the truth gives one
    placed_legs: list[str] = field(default_factory=list)  # forwards rule 3 cannot place, placed

    @property
    def ok(self) -> bool:
        return not self.wrong and not self.phantom_calls and not self.loose_legs and not self.placed_legs

    def report(self) -> str:
        lines = [f"{shape}: {n} conversations, {good} match" for shape, (n, good) in sorted(self.per_shape.items())]
        lines += [f"  {shape} ({scenario}) {name} wrong in {n}, e.g. {self.examples[(shape, scenario, name)]}"
                  for (shape, scenario, name), n in sorted(self.wrong.items())]
        if self.phantom_calls:
            lines.append(f"calls that are no conversation: {len(self.phantom_calls)}, e.g. {self.phantom_calls[:3]}")
        if self.loose_legs:
            lines.append(f"legs without a call: {len(self.loose_legs)}, e.g. {self.loose_legs[:3]}")
        if self.placed_legs:
            lines.append(f"ambiguous forwarding legs given a call: {len(self.placed_legs)}, "
                         f"e.g. {self.placed_legs[:3]}")
        return "\n".join(lines)


def compare(seen: Picture, truth: Iterable[SimCall], fields: Sequence[str] = CORE_FIELDS) -> Verdict:
    """Every conversation of the truth against the warehouse, field by field."""
    verdict = Verdict(tuple(fields))
    primaries = set()
    loose: set[str] = set()
    for conv in truth:
        primaries.add(conv.unique_id)
        loose.update(conv.loose)
        expected = conv.truth()
        got = seen.calls.get(conv.unique_id)
        have = {
            "primary": got is not None,
            "legs": got is not None and set(got["legs"]) == {leg["unique_id"] for leg in expected["legs"]},
            "chain": got is not None and got["chain"] == expected["chain"],
            "participants": got is not None and got["participants"] == {
                p["party"]: p["status"] for p in expected["participants"]},
            "shape": got is not None and got["shape"] == expected["shape"],
            "links": got is not None and got["legs"] == {leg["unique_id"]: leg["link"] for leg in expected["legs"]},
        }
        tally = verdict.per_shape.setdefault(conv.call_shape, [0, 0])
        tally[0] += 1
        bad = [name for name in fields if not have[name]]
        tally[1] += not bad
        for name in bad:
            key = (conv.call_shape, conv.shape, name)
            verdict.wrong[key] += 1
            verdict.examples.setdefault(key, _example(name, expected, got))
    verdict.phantom_calls = sorted(set(seen.calls) - primaries)
    verdict.loose_legs = sorted(set(seen.loose_legs) - loose)
    verdict.placed_legs = sorted(loose - set(seen.loose_legs))
    return verdict


def _example(name: str, expected: dict[str, Any], got: dict[str, Any] | None) -> str:
    if got is None:
        return f"{expected['primary']}: no call"
    want: Any = {
        "legs": sorted(leg["unique_id"] for leg in expected["legs"]),
        "chain": expected["chain"],
        "participants": {p["party"]: p["status"] for p in expected["participants"]},
        "shape": expected["shape"],
        "links": {leg["unique_id"]: leg["link"] for leg in expected["legs"]},
    }[name]
    have = {"legs": sorted(got["legs"]), "links": got["legs"]}.get(name, got.get(name))
    return f"{expected['primary']}: expected {want}, got {have}"
