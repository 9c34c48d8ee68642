"""The recorded production conversations of ``../shared/examples/conversations`` as test input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "examples" / "conversations"


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
