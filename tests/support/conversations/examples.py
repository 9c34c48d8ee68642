"""The recorded production conversations of ``../shared/examples/conversations`` as test input."""
from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from asterisk_pipeline.model import Enterprise

EXAMPLES_DIR = Path(__file__).resolve().parents[4] / "shared" / "examples" / "conversations"


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.json"))


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def strip_bridge_ids(request: str, event: str) -> str:
    """Production ``APIlogs`` bridge bodies carry no BridgeUniqueid (SPEC §2.2)."""
    if event != "bridge":
        return request
    body = json.loads(request)
    body.pop("BridgeUniqueid", None)
    return json.dumps(body, ensure_ascii=False)


OUTSIDE_LINE = re.compile(r"^SIP/\d{6,}-")


def failed_trunk_attempts(example: dict[str, Any]) -> set[str]:
    """UniqueIds seen only in ``new_callerid`` rows of an outside line: failed trunk attempts.

    The operator's answer for recorded call 2-13 lists its two attempts as legs; SPEC §4.2 says
    such a UniqueId is tied to nothing by the rules and stays an unlinked event, and the SPEC is
    the contract. The disagreement is stated here, once, and read off the rows — not a list.
    """
    events: dict[str, set[str]] = {}
    channels: dict[str, set[str]] = {}
    for row in example["rows"]:
        body = json.loads(row["request"])
        events.setdefault(row["Uniqueid"], set()).add(row["event"])
        channels.setdefault(row["Uniqueid"], set()).add(str(body.get("Channel", "")))
    return {uid for uid, kinds in events.items()
            if kinds == {"new_callerid"} and all(OUTSIDE_LINE.match(c) for c in channels[uid])}


def spec_expected(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The operator's answer with the SPEC's legs: failed trunk attempts are no legs (SPEC §4.2)."""
    attempts = failed_trunk_attempts(example)
    conversations: list[dict[str, Any]] = copy.deepcopy(example["expected"]["conversations"])
    for conversation in conversations:
        conversation["legs"] = [uid for uid in conversation["legs"] if uid not in attempts]
    return conversations


ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375000000003")


STATUS = "<Response [200]>"


def rows_of(example: dict[str, Any], strip: bool = False) -> list[tuple[Any, ...]]:
    return [
        (r["DateTime"], r["event"], r["Uniqueid"],
         strip_bridge_ids(r["request"], r["event"]) if strip else r["request"], STATUS)
        for r in example["rows"]
    ]


def day_of(example: dict[str, Any]) -> date:
    return date.fromisoformat(example["rows"][0]["DateTime"][:10])
