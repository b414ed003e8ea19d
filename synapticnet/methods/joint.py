"""Joint training at the same step budget: a multi-task reference, *not* continual.

All tasks are trained together: each task gets exactly its sequential number of steps
(the same total as the sequence), interleaved in a seeded random order, through the one
shared network with one head per task (the engine's :func:`~synapticnet.engine.train_interleaved`,
the same step as every other method). It sees all the data at all times, so it cannot
forget — but it is **not an upper bound at this budget**: the same total number of steps
is shared by all tasks through one network of shared width, whereas a continual method
gives each task its whole budget in a row (and SynapticNet or separate networks add
capacity that belongs to the task). With more steps or more width it would usually
come out ahead; at equal steps it may not.

For the runner joint training is one *stage* holding every task, so its results are one
final row: ``accuracy_matrix = [[acc_0, …, acc_{T-1}]]``, ``bwt`` and ``forgetting`` are
``None`` (there is no sequence), ``evaluation`` is ``"joint (one final row)"``; per-task
fields (``steps_per_task``, ``train_seconds_per_task``) hold one entry for the whole run.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ..engine import TaskReport, step_budget, task_seed, train_interleaved
from .base import Method, register


@register
class Joint(Method):
    """Every task at once, each with its sequential step budget, in one seeded random interleaving."""

    name = "joint"
    joint = True

    def fit(self, model: nn.Module, datasets: list, tasks: list[int], progress: bool = False) -> TaskReport:
        budget = [step_budget(datasets[t], self.profile)[1] for t in tasks]
        order = np.random.default_rng(task_seed(self.seed, tasks[0])).permutation(np.repeat(np.asarray(tasks), budget))
        report = train_interleaved(model, [datasets[t] for t in tasks], order, self.profile, self.device, progress,
                                   hooks=self)
        report.extra["steps_budget_per_task"] = budget
        return report
