"""SPEC §4.7 number matching, as one key: equal keys exactly when the rule says the numbers match."""
from __future__ import annotations

import random
import string

import pytest

from asterisk_pipeline.numbers import number_key


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isascii() and ch.isdigit())


def _rule_matches(a: str, b: str) -> bool:
    """SPEC §4.7 word for word: digits equal, or both ≥ 9 digits with equal last 9."""
    da, db = _digits(a), _digits(b)
    if not da or not db:
        return False
    return da == db or (len(da) >= 9 and len(db) >= 9 and da[-9:] == db[-9:])


@pytest.mark.parametrize(("number", "key"), [
    ("+375291234567", "291234567"), ("80291234567", "291234567"), ("375291234567", "291234567"),
    ("+375 (29) 123-45-67", "291234567"), ("101", "101"), ("", None), (None, None),
    ("anonymous", None), ("0291234567", "291234567"), ("12345678", "12345678"),
])
def test_keys_of_the_usual_formats(number, key):
    assert number_key(number) == key


def test_equal_keys_exactly_when_the_rule_matches():
    rng = random.Random(7)
    alphabet = string.digits * 3 + "+-() x٣"  # an Arabic-Indic digit is no digit of a number
    base = ["291234567", "1234567", "44"]
    numbers = [
        rng.choice(["", "+375", "80", "375", "7"]) + rng.choice(base) if rng.random() < 0.6
        else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        for _ in range(400)
    ]
    for a in numbers:
        for b in numbers[:60]:
            same = number_key(a) is not None and number_key(a) == number_key(b)
            assert same == _rule_matches(a, b), (a, b)
