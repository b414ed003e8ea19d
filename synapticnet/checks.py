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


YES_WORDS, NO_WORDS = ("1", "true", "yes"), ("0", "false", "no")


def yes_no(text: object, words: tuple[tuple[str, ...], tuple[str, ...]] = (YES_WORDS, NO_WORDS)) -> bool | None:
    """``True``/``False`` for a word of ``words`` = (yes words, no words), any case, blanks ignored;
    ``None`` for anything else — the caller says what is allowed. Never ``bool(text)``: ``bool("false")`` is True."""
    word = str(text).strip().lower()
    return True if word in words[0] else False if word in words[1] else None
