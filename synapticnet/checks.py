"""Checking arguments before any work starts: one readable error instead of a traceback from deep inside torch."""

from __future__ import annotations

import operator


def check_count(value: object, what: str, minimum: int = 0) -> int:
    """Return ``value`` as an ``int >= minimum``; raise a clear error otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got a bool ({value!r})")
    try:
        number = operator.index(value)  # accepts int and numpy integers, rejects 2.5
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} ({value!r})") from None
    if number < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {number}")
    return number
