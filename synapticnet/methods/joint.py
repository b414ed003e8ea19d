"""Joint training at the same step budget: a multi-task reference, *not* continual.

All tasks are trained together: each task gets exactly its sequential number of steps
(the same total as the sequence), interleaved in a seeded random order, through the one
shared network with one head per task. It sees all the data at all times, so it cannot
forget — but it is **not an upper bound at this budget**: the same total number of steps
is shared by all tasks through one network of shared width, whereas a continual method
gives each task its whole budget in a row (and SynapticNet or separate networks add
capacity that belongs to the task). With more steps or more width it would usually
come out ahead; at equal steps it may not.

Its results are one final row: ``accuracy_matrix = [[acc_0, …, acc_{T-1}]]``, ``bwt`` and
``forgetting`` are ``None`` (there is no sequence), ``evaluation`` is
``"joint (one final row)"``; per-task fields (``steps_per_task``,
``train_seconds_per_task``) hold one entry for the whole run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine import _schedule, evaluate, make_optimizer, seed_everything
from ..run import build_results, data_record, task_seed
from .base import Method, register


@register
class Joint(Method):
    """Every task at once, each with its sequential step budget, in one seeded random interleaving."""

    name = "joint"
    sequential = False  # the runner calls run() instead of the per-task hooks

    def run(self, datasets: list, progress: bool, eval_split: str, state: dict[str, Any],
            data_root=None) -> tuple[nn.Module, dict[str, Any]]:
        """Train on all tasks; return the model and its results (see the module docstring)."""
        profile, device, seed = self.profile, self.device, self.seed
        seed_everything(task_seed(seed, 0))
        tasks = [d.name for d in datasets]
        model = self.build(tasks, datasets[0].num_classes).to(device)
        for d in datasets[1:]:
            model.add_head(d.num_classes)
        budget = []
        for d in datasets:
            steps = profile.epochs_for(d.name) * d.num_train_batches(profile.batch_size)
            budget.append(steps if profile.max_steps_per_task is None else min(steps, profile.max_steps_per_task))
        order = np.random.default_rng(task_seed(seed, 0)).permutation(np.repeat(np.arange(len(datasets)), budget))
        optimizer = make_optimizer(model, profile)
        scheduler = _schedule(optimizer, profile, len(order))

        def batches(d):  # endless: epoch after epoch, each with its own seeded shuffle
            epoch = 0
            while True:
                yield from d.train_batches(profile.batch_size, epoch=epoch)
                epoch += 1
        streams = [batches(d) for d in datasets]
        model.train()
        start = time.perf_counter()
        for step, t in enumerate(order):
            x, y = next(streams[t])
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x, task_id=int(t)), y, label_smoothing=profile.label_smoothing)
            if not torch.isfinite(loss):
                raise RuntimeError(f"joint training diverged at step {step} (loss {loss.item()})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if progress and (step + 1) % 200 == 0:
                print(f"joint: step {step + 1}/{len(order)}, loss {loss.item():.3f}")
        state["train_seconds"].append(time.perf_counter() - start)
        state["steps"].append(len(order))
        state["val_accuracy"] = [evaluate(model, d, "val", device) if d.n_val else None for d in datasets]
        row = [evaluate(model, d, eval_split, device) for d in datasets]
        results = build_results(state, tasks, datasets, model, profile, seed, device,
                                [data_record(d, data_root) for d in datasets])
        results.update(complete=True, accuracy_matrix=[row], final_accuracy=dict(zip(tasks, row)),
                       average_accuracy=sum(row) / len(row), bwt=None, forgetting=None,
                       evaluation="joint (one final row)", steps_budget_per_task=budget)
        if progress:
            print("joint: " + "  ".join(f"{n} {100 * a:.2f}%" for n, a in zip(tasks, row)))
        return model, results
