"""SynapticNet: task-gated, growing networks that learn tasks in sequence without forgetting.

The pieces, one idea per module:

* :mod:`synapticnet.layers` — ``TaskConv2d`` / ``TaskLinear``: units tagged by task.
* :mod:`synapticnet.model` — ``MultiTaskConvSynapticNet``: the CNN, ``grow()``, masking.
"""

from .layers import TaskConv2d, TaskLinear
from .model import MultiTaskConvSynapticNet, TaskView

__all__ = ["TaskConv2d", "TaskLinear", "MultiTaskConvSynapticNet", "TaskView"]
__version__ = "0.1.0"
