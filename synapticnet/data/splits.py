"""Splits: a seeded, stratified training subset and validation split out of a training split.

The validation examples are drawn first, in proportion to the class frequencies; the
training subset comes from what is left, with equal per-class counts as far as possible
(:func:`balanced_counts`). The test split is never touched.
"""

from __future__ import annotations

import numpy as np

__all__ = ["balanced_counts", "fit_n_train", "proportional_counts", "split_indices"]


def proportional_counts(available: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``available`` (largest remainders; exact sum)."""
    available = np.asarray(available, dtype=np.int64)
    if total == 0:
        return np.zeros_like(available)
    quota = available * total / available.sum()
    counts = np.floor(quota).astype(np.int64)
    leftover = total - counts.sum()
    order = np.argsort(-(quota - counts), kind="stable")  # biggest fractional parts first
    counts[order[:leftover]] += 1
    return counts


def balanced_counts(available: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` over classes as equally as possible, never more than ``available``.

    "Water filling": give every class an equal share; classes that run out are capped
    and the rest is shared among the others. An indivisible remainder goes to randomly
    chosen classes (seeded), so no class is favoured systematically.
    """
    available = np.asarray(available, dtype=np.int64)
    if total > available.sum():
        raise ValueError(f"cannot draw {total} examples, only {available.sum()} available")
    counts = np.zeros_like(available)
    remaining = total
    while remaining > 0:
        open_ = np.flatnonzero(counts < available)
        share = remaining // len(open_)
        if share == 0:
            counts[rng.choice(open_, size=remaining, replace=False)] += 1
            break
        give = np.minimum(share, available[open_] - counts[open_])
        counts[open_] += give
        remaining -= int(give.sum())
    return counts


def _val_count(val_size: float | int, n_pool: int, n_train: int | None) -> int:
    """How many validation examples ``val_size`` means (see :class:`TaskDataset`)."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise ValueError(f"val_size must be a fraction in [0, 1) or a count ≥ 0, got {val_size!r}")
    if isinstance(val_size, (int, np.integer)):
        if val_size < 0:
            raise ValueError(f"val_size must be ≥ 0, got {val_size}")
        return int(val_size)
    if not 0.0 <= val_size < 1.0:
        raise ValueError(f"val_size as a fraction must be in [0, 1), got {val_size} (give an int for a count)")
    if n_train is None:
        return int(round(val_size * n_pool))
    return int(round(val_size * n_train / (1.0 - val_size)))  # val is the fraction val_size of train + val


def split_indices(labels: np.ndarray, num_classes: int, n_train: int | None, val_size: float | int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded, disjoint ``(train_index, val_index)`` into a training split.

    The validation examples are drawn first, in proportion to the class frequencies;
    the training subset comes from what is left — all of it (``n_train=None``) or
    ``n_train`` examples with equal per-class counts as far as possible. Both index
    arrays are sorted; the test split is never touched.
    """
    labels = np.asarray(labels)
    n_pool = len(labels)
    if n_train is not None:
        if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 1:
            raise ValueError(f"n_train must be a positive integer or None, got {n_train!r}")
    n_val = _val_count(val_size, n_pool, n_train)
    n_fit = n_pool - n_val if n_train is None else int(n_train)
    if n_fit < 1 or n_fit + n_val > n_pool:
        raise ValueError(f"n_train={n_train} and val_size={val_size} need {max(n_fit, 1)} training + {n_val} validation "
                         f"examples, but the training split has only {n_pool}")
    rng = np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, 1])  # one stream for the split, seeded
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
    available = np.array([len(ix) for ix in by_class], dtype=np.int64)
    val_counts = proportional_counts(available, n_val)
    rest = available - val_counts
    fit_counts = rest if n_train is None else balanced_counts(rest, n_fit, rng)
    val = np.concatenate([ix[:v] for ix, v in zip(by_class, val_counts)])
    fit = np.concatenate([ix[v:v + f] for ix, v, f in zip(by_class, val_counts, fit_counts)])
    return np.sort(fit), np.sort(val)


def fit_n_train(n_pool: int, n_train: int | None, val_size: float | int) -> int | None:
    """The largest training subset ``≤ n_train`` that fits beside ``val_size`` into ``n_pool`` examples.

    For the small synthetic stand-ins (see :func:`synapticnet.data.task_dataset`): a
    profile's ``n_train`` is capped at what a task has. Returns ``n_train`` itself when
    it fits, is ``None``, or is invalid or nothing fits (then :func:`split_indices` says why).
    """
    def fits(n: int) -> bool:
        return n + _val_count(val_size, n_pool, n) <= n_pool

    try:
        if n_train is None or fits(n_train):
            return n_train
        if isinstance(val_size, (int, np.integer)):
            n = min(int(n_train), n_pool - int(val_size))
        else:  # val = round(val_size * n / (1 - val_size)) grows with n: step down to the largest n that fits
            n = min(int(n_train), int(n_pool * (1.0 - val_size)) + 1)
        while n >= 1 and not fits(n):
            n -= 1
    except (TypeError, ValueError):
        return n_train
    return n if n >= 1 else n_train
