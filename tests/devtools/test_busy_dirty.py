"""A busy day with dirt: the simulator must write it (it crashed on a dirty dial row's raw-text
body while marking the forwards rule 3 cannot place), and the truth must stay consistent."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from asterisk_pipeline.devtools.dayfile import write_day_file


@pytest.mark.parametrize("dirty_share", [0.01, 0.2])
def test_a_dirty_busy_day_is_written_with_its_truth(tmp_path: Path, dirty_share: float):
    summary = write_day_file(tmp_path / "Listen_AMI_2025-07-03.db", token="T", day=date(2025, 7, 3),
                             calls=300, seed=7, dirty_share=dirty_share, busy=True)
    assert summary.dirty_rows > 0
    assert len(summary.conversations) >= 300
    legs = [uid for c in summary.conversations for uid in c.legs]
    assert len(legs) == len(set(legs))  # no UniqueId in two conversations
    for conversation in summary.conversations:
        truth = conversation.truth()
        json.dumps(truth)
        assert {leg["unique_id"] for leg in truth["legs"]} <= set(conversation.legs)
