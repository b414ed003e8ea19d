"""Paired comparisons over seeds: is configuration A really better than B?

Two training runs with different seeds differ by a point or more on the same task, which
is as large as most effects worth claiming. Comparing the *mean* of A's seeds with the
mean of B's seeds throws away the fact that seed ``s`` of A and seed ``s`` of B saw the
same data split, the same initial task-0 network and the same batches where they could.
The **paired** comparison keeps it: take the difference ``d_s = A_s − B_s`` per seed and
ask whether the mean difference is distinguishable from zero. Much of the seed-to-seed
noise is shared by A and B and cancels in ``d_s``.

With ``n`` seeds the 95 % confidence interval of the mean difference is

    mean(d) ± t(0.975, n − 1) · std(d) / √n,

Student's *t* with ``n − 1`` degrees of freedom (not 1.96: with five seeds the
quantile is 2.776 — small samples are less certain than the normal curve says). A claim
"A beats B" is supported only when the whole interval is above zero; "A is not below B"
when its lower end is above the tolerance you allow.

No SciPy needed: :func:`t_quantile` inverts Student's *t* CDF numerically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PairedDifference", "format_difference", "format_mean_std", "paired_difference", "t_cdf", "t_quantile"]


def t_cdf(x: float, df: int) -> float:
    """P(T ≤ x) for Student's *t* with ``df`` degrees of freedom (Simpson's rule on the density)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be an integer ≥ 1, got {df!r}")
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    pdf = lambda t: math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))  # noqa: E731
    # Integrate in u = atan(t) (t = tan u, dt = du / cos² u): a finite interval even for huge x.
    u_end, n = math.atan(abs(x)), 2000
    h = u_end / n
    f = lambda u: pdf(math.tan(u)) / math.cos(u) ** 2  # noqa: E731
    area = f(0.0) + f(u_end) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, n))
    half = area * h / 3
    return 0.5 + math.copysign(half, x)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's *t* with ``df`` degrees of freedom, e.g. ``t_quantile(0.975, 4) ≈ 2.776``."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:  # bracket, then bisect
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-seed differences ``A − B`` and its confidence interval (same units as the inputs)."""

    mean: float
    std: float  # sample standard deviation of the differences (0 with one seed)
    low: float  # lower end of the confidence interval (−inf with one seed: nothing is known)
    high: float
    n: int
    level: float
    differences: tuple[float, ...]

    def above(self, threshold: float = 0.0) -> bool:
        """``True`` if the whole interval lies above ``threshold`` (the claim "A − B > threshold" holds)."""
        return self.low > threshold

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types (an infinite interval end becomes ``None``)."""
        d = asdict(self)
        d["differences"] = list(self.differences)
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> PairedDifference:
    """Paired differences ``a[i] − b[i]`` (one pair per seed) with a ``level`` Student-*t* confidence interval.

    >>> d = paired_difference([85.0, 84.0, 86.0], [84.0, 83.5, 84.5])
    >>> round(d.mean, 3), d.n
    (1.0, 3)
    """
    if len(a) != len(b):
        raise ValueError(f"paired data needs one value of each per seed: got {len(a)} and {len(b)} values")
    if not a:
        raise ValueError("paired data needs at least one seed")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    d = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    if n == 1:
        return PairedDifference(mean, 0.0, -math.inf, math.inf, 1, level, tuple(d))
    std = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return PairedDifference(mean, std, mean - half, mean + half, n, level, tuple(d))


def format_difference(d: Mapping[str, Any]) -> str:
    """``+0.42 [-0.10, +0.94]``: a :meth:`PairedDifference.to_dict` as text (mean and interval, in its units)."""
    if d["low"] is None:
        return f"{d['mean']:+.2f} (one seed: no interval)"
    return f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def format_mean_std(mean: float | None, std: float | None, n: int, scale: float = 100.0, signed: bool = False,
                    digits: int = 2) -> str:
    """``"59.57 ± 0.61"`` for a mean over ``n ≥ 2`` runs, the mean alone (``"59.57"``) for one run, ``"—"`` for none.

    Values are multiplied by ``scale`` (fractions → percent or points). A spread over one run would
    print as ``± 0.00`` and read as "no spread"; it is not measured, so it is not printed — a table
    shows ``n`` beside it instead.
    """
    if mean is None:
        return "—"
    text = f"{scale * mean:{'+' if signed else ''}.{digits}f}"
    return text if n < 2 or std is None else f"{text} ± {scale * std:.{digits}f}"
