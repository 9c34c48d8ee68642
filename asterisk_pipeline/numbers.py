"""SPEC §4.7 number matching: when two outside numbers are the same customer.

Numbers match when their digits (non-digits dropped) are equal, or when both have at least
9 digits and their last 9 are equal. That relation is equality of one key, so the warehouse
stores the key (``calls.phone_key``) and a search or a follow-up is one index lookup:
``+375 29 123-45-67``, ``80291234567`` and ``375291234567`` all key to ``291234567``.
"""
from __future__ import annotations

#: Numbers with at least this many digits match on their last this-many digits (SPEC §4.7).
SUFFIX_DIGITS = 9


def number_key(number: str | None) -> str | None:
    """The matching key of ``number``: its last 9 digits, or all of them when it has fewer;
    ``None`` when it has no digit at all (such numbers match nothing)."""
    if not number:
        return None
    digits = "".join(ch for ch in number if "0" <= ch <= "9")
    if not digits:
        return None
    return digits[-SUFFIX_DIGITS:]
