"""Whole numbers as clients send them (ids, seqs, cursors, token claims): one rule for all.

SQLite integers are 64-bit, so an id past 2**63-1 cannot exist and would not even bind to a
query; it must be refused as invalid (or not found), never reach the database as a 500.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1


def whole_number(value: object, low: int = 1, high: int = MAX_ID) -> int | None:
    """`value` when it is a JSON integer (not a boolean) within [low, high]; else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def digits(text: str, low: int = 1, high: int = MAX_ID, *, canonical: bool = False) -> int | None:
    """`text` as a number within [low, high] when it is ASCII decimal digits; else None.

    `str.isdigit` alone also takes '²' and other scripts' digits (U+0661 for 1), which `int`
    refuses or reads as ASCII; and `int` refuses strings of thousands of digits. `canonical`
    also refuses leading zeros, for values that must have one spelling (a token's `sub`).
    """
    if not (text.isascii() and text.isdigit()):
        return None
    if canonical and text.startswith("0"):
        return None
    if len(text.lstrip("0")) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None
