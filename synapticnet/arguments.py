"""Command-line arguments of the scripts, parsed the way ``python -m synapticnet`` parses its own: every value
checked by argparse (type, choices, range), and every error one line with exit status 2.

:func:`script` runs a script's ``main`` so that what goes wrong *after* parsing (missing data, an output
folder that cannot be written, a damaged results file) is one line too, instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .profiles import MAX_SEED

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


def seeds(text: str) -> list[int]:
    """``--seeds 0,1,2``: comma-separated distinct integers in ``0 … MAX_SEED``."""
    words = [w.strip() for w in text.split(",")]
    if not all(w.isdigit() for w in words):
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds (integers 0 … {MAX_SEED}), got {text!r}")
    values = [int(w) for w in words]
    if max(values) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be at most {MAX_SEED}, got {text[:40]!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"a seed is repeated in {text!r}")
    return values


def numbers(text: str) -> list[float]:
    """``--sweep-sparsity 0,0.01``: comma-separated finite numbers ≥ 0."""
    try:
        values = [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(0.0 <= v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers ≥ 0, got {text!r}")
    return values


def names(known: Sequence[str], what: str) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list of ``known`` names (one error listing them otherwise)."""
    def parse(text: str) -> list[str]:
        words = [w.strip() for w in text.split(",") if w.strip()]
        unknown = [w for w in words if w not in known]
        if unknown or not words:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or repr(text)}; known: "
                                             f"{', '.join(known)}")
        return words
    return parse


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def existing_file(suffix: str | None = None) -> Callable[[str], Path]:
    """An argparse type for a file that exists (and ends in ``suffix``, if given)."""
    def parse(text: str) -> Path:
        path = Path(text)
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text}")
        if suffix and path.suffix != suffix:
            raise argparse.ArgumentTypeError(f"{text} is not a {suffix} file")
        return path
    return parse


def script(main: Callable[[], object]) -> None:
    """Run a script's ``main`` and exit: 0 when done, 2 with ``error: …`` on one line for a ValueError,
    an OSError or a data error, 130 on Ctrl-C."""
    from .data import DataError  # imported late: --help stays fast

    try:
        code = main()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except (ValueError, OSError, DataError) as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {text}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else 0)
