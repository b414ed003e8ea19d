"""SynapticNet: task-gated, growing networks that learn tasks in sequence without forgetting.

The pieces, one idea per module:

* :mod:`synapticnet.layers` — ``TaskConv2d`` / ``TaskLinear``: units tagged by task.
* :mod:`synapticnet.model` — ``MultiTaskConvSynapticNet``: the CNN, ``grow()``, masking.
* :mod:`synapticnet.data` — ``TaskDataset``: every dataset harmonised to one input shape.
* :mod:`synapticnet.engine` / :mod:`synapticnet.run` — train, evaluate, run a task sequence.
* :mod:`synapticnet.metrics` — accuracy matrix, average accuracy, BWT, forgetting, forward transfer.
* :mod:`synapticnet.methods` — one continual-learning method per file (EWC, replay, LwF, GEM, A-GEM, …).
* :mod:`synapticnet.baselines` / :mod:`synapticnet.studies` — run the methods on one stream and compare.
* :mod:`synapticnet.task_inference` — which task does an image belong to, when nobody says?
* :mod:`synapticnet.streams` — related-task streams (Split CIFAR-10, Permuted MNIST, …).
* :mod:`synapticnet.profiles` / :mod:`synapticnet.workspace` — budgets, and where a notebook writes.
"""

from .layers import TaskConv2d, TaskLinear
from .data import TaskDataset
from .model import MultiTaskConvSynapticNet, TaskView

__all__ = ["TaskConv2d", "TaskLinear", "MultiTaskConvSynapticNet", "TaskView", "TaskDataset"]
__version__ = "0.1.0"
