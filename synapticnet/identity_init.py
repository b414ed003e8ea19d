"""Identity ("dirac") initialisation of a task's convolutions (the fast CIFAR-10 recipes' initialisation).

A freshly initialised convolution scrambles its input: at the start of training, a deep stack of them
passes on little of the image, and the first steps are spent finding a signal again. airbench94 (Keller
Jordan, 2024) starts every convolution as *partly the identity*: of a layer's ``out`` filters, the first
``in`` copy their input channel through unchanged (a 3×3 kernel that is 1 at its centre for its own
channel and 0 elsewhere, :func:`torch.nn.init.dirac_`); the remaining ``out − in`` filters keep PyTorch's
random initialisation. At step 0 the network is then a near pass-through of the image plus random
features, and training only has to learn what to add.

Here a task's column gets this when it is created (``Profile.identity_init``; SynapticNet's
``before_task``): only the newest task's blocks change. In reuse mode a block also reads older tasks'
frozen channels; its identity filters read none of them (zero weights there), so they copy the task's own
channels exactly. Finished tasks are frozen and untouched, so zero forgetting stays exact.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def identity_init_task(model: nn.Module) -> int:
    """Make the first ``min(out, own_in)`` filters of the newest task's block in every convolution layer
    (``model.convs``) copy the task's own input channels: ``dirac_`` on the block's own-input columns, zero
    on the older tasks' columns. Returns how many filters were set."""
    convs = getattr(model, "convs", None)
    if not convs:
        raise ValueError("identity_init needs a network with task convolutions (MultiTaskConvSynapticNet with "
                         "conv_channels); this one has none")
    task, set_filters = model.trainable_task, 0
    for conv in convs:
        weight = conv.blocks[task].unit.weight  # (out, old inputs + own inputs, k, k): own inputs come last
        own_in = conv.in_units_per_task[0] if conv.shared_input else conv.in_units_per_task[task]
        n = min(weight.shape[0], own_in)
        weight[:n].zero_()
        nn.init.dirac_(weight[:n, weight.shape[1] - own_in:])
        set_filters += n
    return set_filters
