"""What a generated conversation is: its events and the ground truth it carries (SPEC §2.3, §4.2).

Most calls are one UniqueId (shape ``"simple"``), but by default about a fifth are the
multi-UniqueId shapes of SPEC §2.3 (:data:`SHAPES`: attended transfers over Local channels, blind
transfers, FollowMe to a mobile, internal calls, a busy manager, one caller in two concurrent
calls), modelled on the recorded conversations in ``examples/conversations``. Each
:class:`SimCall` is one conversation and carries its ground truth (``legs``, ``direction``,
``transfer_chain``, ``shape``...), so tests can check the assembly of SPEC §4.2.

Each conversation's truth also names its SPEC §4.2 ``call_shape`` (the ``calls.shape``
vocabulary, :data:`CALL_SHAPES`), every linked leg's ``link`` and its ``participants`` with their
status (§4.4); :meth:`SimCall.truth` gives it as JSON and :func:`write_truth` writes one line per
conversation next to the day file (``Listen_AMI_<day>.truth.jsonl``). The rules the truth follows
where the SPEC leaves a choice: ``outgoing`` / ``internal`` name every call of that direction
(answered or not); an incoming call where a forwarding target rang is ``followme``, one with a
consultation nobody answered ``consultation_unanswered``; with two or more holders it is
``transfer_attended`` (a consultation over a Local channel), ``transfer_blind`` (the caller's own
channel dialled the target) or ``transfer`` (the rows tell neither); otherwise ``unanswered``
when nobody held it, ``group`` when more than one party is a participant (rang or was listed),
else ``direct``. Links: ``primary``; ``forwarding`` for both halves of a forward joined by rule 3;
``local`` for every other Local half; ``bridge`` for the rest (their channels were bridged).
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

#: Every event type of SPEC §2.2, in the order they occur within a call.
EVENT_TYPES: tuple[str, ...] = (
    "start", "dial", "new_callerid", "bridge_create", "bridge", "bridge_leave", "bridge_destroy",
    "hangup",
)
#: Share of calls whose final hangup says CallStatus "2" (the seed's headline figure is ~37%).
ANSWERED_SHARE = 0.37
#: Conversation shapes (SPEC §2.3): "simple" is one UniqueId per call, the rest several.
SHAPES: tuple[str, ...] = (
    "simple", "attended_transfer", "attended_transfer_chain", "blind_transfer",
    "blind_transfer_busy", "unanswered_consultation", "followme_mobile", "followme_cancelled",
    "internal", "internal_misleading", "busy_manager", "concurrent_caller",
)
#: Default share of start slots given to a complex shape (~22% of conversations end up complex).
COMPLEX_SHARE = 0.2


#: Shapes only a busy day draws (the default output stays byte for byte what it was).
BUSY_SHAPES: tuple[str, ...] = ("transfer_unknown", "transfer_to_followme")


#: SPEC §4.2 ``calls.shape`` vocabulary (as ``model.SHAPES``; the simulator imports nothing).
CALL_SHAPES: tuple[str, ...] = (
    "direct", "group", "transfer", "transfer_attended", "transfer_blind", "followme",
    "consultation_unanswered", "unanswered", "outgoing", "internal",
)
#: PBX local time is Europe/Minsk, a fixed UTC+3 since 2011: UniqueId epochs are derived with it.
PBX_UTC_OFFSET = timedelta(hours=3)


LAST_SECOND = 86_399
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class SimEvent(NamedTuple):
    """One event as the listener would log it; one or two source rows per table (with a retry).

    ``body`` is a dict (serialized with ``json.dumps(..., ensure_ascii=False)``) unless ``raw``,
    in which case it is the literal ``request`` text (``None`` = SQL NULL). ``alt_extra`` holds keys
    only the Alternative tables' body has (``BridgeUniqueid`` of ``bridge``).
    """

    second: int  # seconds since the PBX's local midnight of the file's day
    event: str
    uniqueid: str
    body: Any
    alt_extra: dict[str, Any] | None = None
    raw: bool = False
    dirty: bool = False


@dataclass(frozen=True)
class SimCall:
    """A generated conversation with all its events (also those not written yet).

    ``unique_id`` is the primary UniqueId (SPEC §4.2); ``call_status``, ``call_type`` and
    ``extensions`` are the primary's final hangup's; ``answered`` is whether somebody held the
    conversation (only a blind transfer to a busy extension has it True with status "0").
    """

    unique_id: str
    day: date
    call_type: int
    call_status: str
    answered: bool
    start_second: int
    end_second: int
    extensions: tuple[str, ...]  # the final hangup's Extensions, normalized (SPEC §2.2)
    events: tuple[SimEvent, ...] = field(repr=False)
    # Ground truth of the conversation (SPEC §2.3 / §4.2), what an import must rebuild:
    shape: str = "simple"  # one of SHAPES
    legs: tuple[str, ...] = ()  # every UniqueId it made, primary (= unique_id) first
    direction: str = ""  # '0' incoming, '1' outgoing, '2' internal (calls.call_type)
    transfer_chain: tuple[str, ...] = ()  # parties that held it, in order (empty: unanswered)
    phone: str = ""  # the other side: the outside number, or the calling extension (internal)
    trunk_attempts: tuple[str, ...] = ()  # UniqueIds seen only in a new_callerid: a failed trunk
    # attempt, a desk phone that only rang in a FollowMe; SPEC §4.2 links none of them
    related: tuple[str, ...] = ()  # primaries of overlapping conversations sharing a party
    call_shape: str = ""  # SPEC §4.2 calls.shape (CALL_SHAPES)
    #: forwarding legs rule 3 cannot place (two open calls dial their target): legs without a call
    loose: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (UniqueId, call_legs.link) of every linked leg
    participants: tuple[tuple[str, str], ...] = ()  # (party, participant_status), ring order

    def __post_init__(self) -> None:
        """Defaults for a plain one-UniqueId call built by older callers."""
        if not self.legs:
            object.__setattr__(self, "legs", (self.unique_id,))
        if not self.direction:
            object.__setattr__(self, "direction", str(self.call_type))
        if not self.links:
            object.__setattr__(self, "links", tuple((uid, "primary" if uid == self.unique_id else "bridge")
                                                    for uid in self.linked_legs))

    def truth(self) -> dict[str, Any]:
        """The ground truth as JSON: what the warehouse must hold for this conversation."""
        return {
            "primary": self.unique_id, "scenario": self.shape, "shape": self.call_shape,
            "direction": self.direction, "answered": self.answered, "phone": self.phone,
            "start": self.start_local.isoformat(sep=" "), "end": self.end_local.isoformat(sep=" "),
            "legs": [{"unique_id": uid, "link": link} for uid, link in self.links],
            "unlinked": list(self.trunk_attempts), "loose": list(self.loose),
            "chain": list(self.transfer_chain),
            "participants": [{"party": p, "status": st} for p, st in self.participants],
            "related": list(self.related),
        }

    @property
    def linked_legs(self) -> tuple[str, ...]:
        """The legs SPEC §4.2 links into the call (failed trunk attempts stay unlinked)."""
        skip = {*self.trunk_attempts, *self.loose}
        return tuple(uid for uid in self.legs if uid not in skip)

    @property
    def answered_by(self) -> str | None:
        return self.transfer_chain[0] if self.transfer_chain else None

    @property
    def final_extension(self) -> str | None:
        return self.transfer_chain[-1] if self.transfer_chain else None

    @property
    def start_local(self) -> datetime:
        """PBX local start time (naive)."""
        midnight = datetime.combine(self.day, datetime.min.time())
        return midnight + timedelta(seconds=self.start_second)

    @property
    def end_local(self) -> datetime:
        """PBX local end time (naive), the final hangup's EndTime."""
        return datetime.combine(self.day, datetime.min.time()) + timedelta(seconds=self.end_second)


def epoch_of_midnight(day: date) -> int:
    """Unix time of the PBX's local midnight (UTC+3)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 86_400 - int(PBX_UTC_OFFSET.total_seconds())


def norm_exts(value: Any) -> tuple[str, ...]:
    """SPEC §2.2 Extensions normalization (used for SimCall.extensions)."""
    items = value.split("&") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else ()
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


_SCENARIO_SHAPES = {
    "followme_mobile": "followme", "followme_cancelled": "followme",
    "unanswered_consultation": "consultation_unanswered",
    "attended_transfer": "transfer_attended", "attended_transfer_chain": "transfer_attended",
    "busy_manager": "transfer_attended", "blind_transfer": "transfer_blind",
    "transfer_unknown": "transfer", "transfer_to_followme": "transfer_attended",
}


def shape_of(scenario: str, direction: str, chain: Sequence[str], participants: int) -> str:
    """SPEC §4.2 ``shape`` of a generated conversation (the choices: module docstring)."""
    if direction == "1":
        return "outgoing"
    if direction == "2":
        return "internal"
    if len(chain) > 1 or scenario in ("followme_mobile", "followme_cancelled",
                                      "unanswered_consultation"):
        return _SCENARIO_SHAPES[scenario]
    if not chain:
        return "unanswered"
    return "group" if participants > 1 else "direct"


def participants_of(
    dialled: Iterable[Sequence[str]], exts: Sequence[str], chain: Sequence[str],
    extra: Sequence[str], other_side: str,
) -> tuple[tuple[str, str], ...]:
    """SPEC §4.4: dial targets (the primary's first), the call's extensions, the chain, then
    parties only the Local channel names show (an unanswered consultation's target)."""
    order: list[str] = []
    for party in itertools.chain(itertools.chain.from_iterable(dialled), exts, chain, extra):
        if party and party != other_side and party not in order:
            order.append(party)
    held = set(chain)
    return tuple((p, "answered" if p in held else "no_answer") for p in order)


def truth_path(day_file: Path) -> Path:
    """``Listen_AMI_<day>.truth.jsonl`` beside the day file (no reader takes it for a day file)."""
    day_file = Path(day_file)
    return day_file.with_name(day_file.name.removesuffix(".db") + ".truth.jsonl")


def write_truth(day_file: Path, conversations: Iterable[SimCall]) -> Path:
    """One JSON line per conversation (:meth:`SimCall.truth`), in start order."""
    path = truth_path(day_file)
    with path.open("w", encoding="utf-8") as out:
        for call in conversations:
            out.write(json.dumps(call.truth(), ensure_ascii=False) + "\n")
    return path
