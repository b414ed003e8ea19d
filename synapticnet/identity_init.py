"""Identity ("dirac") initialisation of a task's convolutions (the fast CIFAR-10 recipes' initialisation).

A freshly initialised convolution scrambles its input: at the start of training, a deep stack of them
passes on little of the image, and the first steps are spent finding a signal again. airbench94 (Keller
Jordan, 2024) starts every convolution as *partly the identity*: of a layer's ``out`` filters, the first
``in`` copy their input channel through unchanged (a 3×3 kernel that is 1 at its centre for its own
channel and 0 elsewhere, :func:`torch.nn.init.dirac_`); the remaining ``out − in`` filters keep PyTorch's
random initialisation. At step 0 the network is then a near pass-through of the image plus random
features, and training only has to learn what to add.

Here a task's column gets this when it is created (``Profile.identity_init``; SynapticNet's
``before_task``): only the newest task's blocks change; the baselines' networks get it when they are
built. In reuse mode a block also reads older tasks' frozen channels; its identity filters read none of
them (zero weights there), so they copy the task's own channels exactly. Finished tasks are frozen and
untouched, so zero forgetting stays exact.
"""

from __future__ import annotations

import torch
from torch import nn


def identity_filters_(weight: torch.Tensor, own_in: int | None = None) -> int:
    """In place: the first ``min(out, own_in)`` filters of a conv ``weight`` ``(out, in, k, k)`` copy the last
    ``own_in`` input channels (default: all of them) and read nothing else. Returns how many filters were set."""
    own_in = weight.shape[1] if own_in is None else own_in
    n = min(weight.shape[0], own_in)
    with torch.no_grad():
        weight[:n].zero_()
        nn.init.dirac_(weight[:n, weight.shape[1] - own_in:])
    return n


def identity_init_task(model: nn.Module) -> int:
    """The newest task's block in every convolution layer of a SynapticNet network (``model.convs``): its first
    filters copy the task's own input channels (in reuse mode, older tasks' channels come first and are read by
    the other filters only). Returns how many filters were set."""
    convs = getattr(model, "convs", None)
    if not convs:
        raise ValueError("identity_init needs a network with task convolutions (MultiTaskConvSynapticNet with "
                         "conv_channels); this one has none")
    task = model.trainable_task
    return sum(identity_filters_(conv.blocks[task].unit.weight,
                                 conv.in_units_per_task[0] if conv.shared_input else conv.in_units_per_task[task])
               for conv in convs)


def identity_init_network(model: nn.Module) -> int:
    """Every :class:`~torch.nn.Conv2d` of a plain network (the baselines' shared network, a separate network):
    the same start for the references as for SynapticNet's columns. Returns how many filters were set."""
    return sum(identity_filters_(m.weight) for m in model.modules() if isinstance(m, nn.Conv2d))
