"""Separate networks: one independent network of task 0's width per task.

No sharing at all, so no forgetting by construction — and no transfer. It is the
reference for *parameter cost*: what "never forget" costs without any reuse.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .base import Method, register
from .networks import SeparateNetworks


@register
class Separate(Method):
    """Each task gets a whole new :class:`~synapticnet.methods.networks.MultiHeadCNN` (``next_task`` adds one)."""

    name = "separate"
    shared_network = False

    def build(self, tasks: Sequence[str], first_classes: int) -> nn.Module:
        p = self.profile
        model = SeparateNetworks(conv_channels=p.conv_channels, hidden=p.hidden, dropout=p.dropout,
                                 in_channels=p.channels, image_size=p.image_size, pooled_size=p.pooled_size,
                                 pool_after=p.pool_after, batch_norm=p.batch_norm, identity_init=p.identity_init)
        model.add_head(first_classes)
        return model
