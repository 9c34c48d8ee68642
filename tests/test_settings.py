"""Settings: every variable is described, documented in the README with its default, and the
variables the Dagster code location reads fail with their name when malformed."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from asterisk_pipeline.settings import Settings, env_var

README = Path(__file__).resolve().parents[1] / "README.md"


def _configuration_rows() -> dict[str, str]:
    """Variable → default cell of the README's configuration table."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`ASTERISK_"):
            for name in re.findall(r"`(ASTERISK_[A-Z0-9_]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_variable_is_described_and_documented(field: str) -> None:
    assert Settings.model_fields[field].description, f"{field} has no description"
    rows = _configuration_rows()
    assert env_var(field) in rows, f"{env_var(field)} is missing from the README's Configuration table"
    assert rows[env_var(field)], f"{env_var(field)} has no default in the README"


def test_env_var_refuses_unknown_fields() -> None:
    assert env_var("history_start") == "ASTERISK_HISTORY_START"
    with pytest.raises(KeyError):
        env_var("history_begin")
