"""SynapticNet itself, as a method: grow new units per task, freeze the old ones.

The same algorithm as :func:`synapticnet.run.run_sequence` (which adds checkpoints and
resuming, and is what ``compare`` and the command line use for ``"synapticnet"``);
here it runs through the same runner as the baselines, for custom streams. The
engine applies the gradient mask itself, so no hook is overridden except how the
network is built and how it makes room for a new task.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..model import MultiTaskConvSynapticNet
from ..run import CHANNELS, IMAGE_SIZE
from .base import Method, register


@register
class SynapticNet(Method):
    """Task-gated growth: ``next_task`` grows the network by the profile's growth for that task."""

    name = "synapticnet"
    shared_network = False

    def build(self, tasks: Sequence[str], first_classes: int) -> nn.Module:
        return MultiTaskConvSynapticNet(in_channels=CHANNELS, num_classes=first_classes, image_size=IMAGE_SIZE,
                                        **self.profile.model_kwargs())

    def next_task(self, model: nn.Module, data) -> None:
        conv, hidden = self.profile.growth_for(data.name)
        model.grow(num_classes=data.num_classes, grow_conv_channels=conv, grow_hidden=hidden)
