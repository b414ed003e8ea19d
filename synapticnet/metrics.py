"""Continual-learning metrics, computed from one accuracy matrix.

After training through task ``i`` we evaluate every task ``j <= i`` seen so far and
write the test accuracy into ``R[i][j]``. Entries above the diagonal (tasks not yet
seen) are ``None``. With ``T`` tasks:

* **Average accuracy** (final): ``ACC = 1/T · Σ_j R[T-1][j]``.
* **Backward transfer** (BWT, Lopez-Paz & Ranzato, 2017):
  ``BWT = 1/(T-1) · Σ_{j<T-1} (R[T-1][j] − R[j][j])``.
  How much learning later tasks changed earlier ones: negative means forgetting,
  positive means later tasks improved old ones, exactly 0 means untouched.
* **Forgetting** (Chaudhry et al., 2018):
  ``F = 1/(T-1) · Σ_{j<T-1} max_{l∈[j, T-2]} (R[l][j] − R[T-1][j])``.
  For every old task, the drop from its best accuracy so far to its final accuracy. The
  maximum runs over ``l ≥ j`` only: before task ``j`` was learned there is no accuracy on it.
* **Forward transfer** (FWT, as in Díaz-Rodríguez et al., 2018 and Continual World):
  ``FWT = 1/(T-1) · Σ_{i≥1} (R[i][i] − b_i)``, where ``b_i`` is the test accuracy of a
  *reference network trained on task i alone with the same budget* (same architecture,
  data, epochs and optimiser: the ``separate`` baseline of notebook 04). Positive means the
  earlier tasks helped the method learn task ``i``; negative means they got in its way
  (a shared network already bent to old tasks, a regulariser holding weights back, frozen
  units that leave less room). Task 0 is left out: nothing precedes it.

  Why not Lopez-Paz & Ranzato's FWT (accuracy on task ``i`` *before* training it, minus a
  randomly initialised network's)? With one new head per task — as here — the head of an
  unseen task does not exist or is random, so that number is chance level for every method
  and says nothing about transfer.

BWT and forgetting need at least two tasks; for one task they are ``None``.
Accuracies are fractions in [0, 1] here; multiply by 100 for percent.
"""

from __future__ import annotations

from collections.abc import Sequence

Matrix = Sequence[Sequence[float | None]]


def check_matrix(R: Matrix) -> int:
    """Validate a lower-triangular accuracy matrix and return its number of tasks ``T``."""
    T = len(R)
    if T == 0:
        raise ValueError("the accuracy matrix is empty")
    for i, row in enumerate(R):
        if len(row) != T:
            raise ValueError(f"row {i} has {len(row)} entries; an accuracy matrix of {T} tasks is {T}x{T}")
        for j, value in enumerate(row):
            if j <= i and (value is None or not 0.0 <= value <= 1.0):
                raise ValueError(f"R[{i}][{j}] must be an accuracy in [0, 1], got {value!r}")
    return T


def average_accuracy(R: Matrix) -> float:
    """Mean accuracy over all tasks after training on the last one."""
    T = check_matrix(R)
    return sum(R[T - 1][j] for j in range(T)) / T


def backward_transfer(R: Matrix) -> float | None:
    """BWT: mean change of each old task's accuracy from just after learning it to the end."""
    T = check_matrix(R)
    if T < 2:
        return None
    return sum(R[T - 1][j] - R[j][j] for j in range(T - 1)) / (T - 1)


def forgetting(R: Matrix) -> float | None:
    """Average forgetting: mean drop from each old task's best accuracy to its final one."""
    T = check_matrix(R)
    if T < 2:
        return None
    drops = [max(R[l][j] for l in range(j, T - 1)) - R[T - 1][j] for j in range(T - 1)]
    return sum(drops) / (T - 1)


def forward_transfer(R: Matrix, reference: Sequence[float]) -> float | None:
    """FWT: mean gain on each new task ``i ≥ 1`` right after learning it over a network trained on it alone.

    ``reference[i]`` is the test accuracy of that single-task reference network (same
    budget). ``None`` for a single task.
    """
    T = check_matrix(R)
    if len(reference) != T:
        raise ValueError(f"forward transfer needs one reference accuracy per task: {T} tasks, {len(reference)} given")
    for i, value in enumerate(reference):
        if value is None or not 0.0 <= value <= 1.0:
            raise ValueError(f"reference[{i}] must be an accuracy in [0, 1], got {value!r}")
    if T < 2:
        return None
    return sum(R[i][i] - reference[i] for i in range(1, T)) / (T - 1)


def summarize(R: Matrix, reference: Sequence[float] | None = None) -> dict[str, float | None]:
    """The metrics in one dict (the keys used in ``results.json``); ``fwt`` only with a ``reference``."""
    out = {"average_accuracy": average_accuracy(R), "bwt": backward_transfer(R), "forgetting": forgetting(R)}
    if reference is not None:
        out["fwt"] = forward_transfer(R, reference)
    return out
