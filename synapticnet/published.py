"""Numbers quoted from papers and from the original design: ``published.json``, each with its source.

A number this repository did not measure — WSN's 96.41 % on Permuted MNIST, the original README's
98.89 % on MNIST — is written once, in ``synapticnet/published.json``, with what it is and where it
was published; code reads it from there (:func:`published`) and prose may quote it
(``scripts/prose_numbers.py`` accepts a number with a unit only if a measurement, a setting or this
file backs it).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

FILE = "published.json"


@lru_cache(maxsize=1)
def entries() -> tuple[dict[str, Any], ...]:
    """Every published number: ``value``, ``unit``, ``what``, ``key`` and ``source``."""
    text = resources.files(__package__).joinpath(FILE).read_text(encoding="utf-8")
    return tuple(json.loads(text)["numbers"])


def published(key: str) -> dict[str, Any]:
    """The entry called ``key`` (e.g. ``"permuted_mnist/WSN/accuracy"``); a ``KeyError`` names the known keys."""
    for entry in entries():
        if entry["key"] == key:
            return entry
    known = ", ".join(e["key"] for e in entries())
    raise KeyError(f"no published number {key!r} in synapticnet/{FILE}; known: {known}")
