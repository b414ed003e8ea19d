"""SynapticNet: task-gated, growing networks that learn tasks in sequence without forgetting.

The pieces, one idea per module (read them in this order to learn the method):

* :mod:`synapticnet.layers` — ``TaskConv2d`` / ``TaskLinear``: units tagged by the task that made them.
* :mod:`synapticnet.model` — ``MultiTaskConvSynapticNet``: the network, ``grow()``, the gradient mask
  (:mod:`synapticnet.guarded` adds argument checks, rollback, save/load and ``predict``: skip it at first).
* :mod:`synapticnet.methods` — one continual-learning method per file (SynapticNet's recipe in
  ``methods/synapticnet.py``; EWC, replay, LwF, GEM, A-GEM, joint, separate networks, …).
* :mod:`synapticnet.engine` — the one training loop the methods plug into.
* :mod:`synapticnet.run` — the one runner: any method over a task list, checkpoints, resume.
* :mod:`synapticnet.data` — ``TaskDataset`` and the streams: every dataset harmonised to one input shape.
* :mod:`synapticnet.metrics` — accuracy matrix, average accuracy, BWT, forgetting, forward transfer.
* :mod:`synapticnet.task_inference` / :mod:`synapticnet.pruning` — which task is this image? which units matter?
* :mod:`synapticnet.profiles` — every training size in one place: profiles and named budgets.
* :mod:`synapticnet.experiments` — comparisons, growth studies, the accuracy–parameter front.

Everything a notebook needs is importable from here, ``from synapticnet import run_sequence, budget, plots``
(the runner itself is ``synapticnet.run.run``);
names are loaded on first use, so ``python -m synapticnet --help`` does not wait for PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it (loaded on first access: PEP 562)
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["TaskConv2d", "TaskLinear", "BlockBatchNorm"], "layers"),
    **dict.fromkeys(["MultiTaskConvSynapticNet", "TaskView"], "guarded"),  # model.py's network, guarded
    **dict.fromkeys(["TaskDataset", "CHANNELS", "IMAGE_SIZE", "describe", "dataset_provenance", "get_spec",
                     "DataError"], "data"),
    **dict.fromkeys(["train_task", "evaluate", "evaluating", "seed_everything", "task_seed", "select_device",
                     "TrainingDiverged"], "engine"),
    **dict.fromkeys(["run_sequence", "run_baseline", "load_task_data", "split_available", "fresh_run_dir",
                     "CHECKPOINT", "RESULTS"], "run"),
    **dict.fromkeys(["Method", "register", "get_method", "REGISTRY", "MultiHeadCNN", "SeparateNetworks"], "methods"),
    **dict.fromkeys(["Profile", "GrowthTrigger", "Compaction", "get_profile", "budget", "BUDGETS", "PROFILES",
                     "REAL_TASKS", "SYNTHETIC_TASKS", "default_profile_name", "family"], "profiles"),
    **dict.fromkeys(["save_json", "load_json"], "storage"),
    **dict.fromkeys(["expected_times", "env_profile", "env_smoke"], "workspace"),
    **dict.fromkeys(["unit_importance", "compaction_sizes"], "pruning"),
    **dict.fromkeys(["paired_difference", "format_difference", "format_mean_std"], "stats"),
}
_MODULES = ("layers", "model", "guarded", "data", "engine", "run", "methods", "metrics", "profiles", "storage", "workspace",
            "plots", "task_inference", "pruning", "stats", "experiments")
__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'synapticnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
