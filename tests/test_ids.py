"""The one parser for whole numbers clients send: ids, seqs, cursors and token claims."""

from __future__ import annotations

import pytest

from omnichat.ids import MAX_ID, digits, whole_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0005", 5),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("0", None),
        ("", None),
        ("-1", None),
        ("²", None),
        ("\u0661", None),  # an Arabic-Indic one: int() would read it as 1
        ("9" * 5000, None),  # int() refuses it with ValueError
    ],
)
def test_digits_take_ascii_decimal_in_range(text: str, expected: int | None) -> None:
    """Only ASCII decimal digits within the bounds become a number; anything else is None."""
    assert digits(text) == expected


def test_digits_bounds_and_canonical_spelling() -> None:
    """Bounds are inclusive, and `canonical` refuses leading zeros (one spelling per value)."""
    assert digits("0", 0) == 0
    assert digits("101", 1, 100) is None
    assert digits("007", 1, 100) == 7
    assert digits("007", canonical=True) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (MAX_ID, MAX_ID),
        (MAX_ID + 1, None),
        (0, None),
        (True, None),
        (3.0, None),
        ("3", None),
    ],
)
def test_whole_number_takes_json_integers_in_range(value: object, expected: int | None) -> None:
    """JSON integers within the bounds pass; booleans, floats, strings and huge ones do not."""
    assert whole_number(value) == expected
