"""The networks the baselines train: one shared multi-head CNN, or one CNN per task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..checks import pooled_layers
from ..identity_init import identity_init_network
from ..profiles import Profile


class MultiHeadCNN(nn.Module):
    """A plain CNN with one output head per task — SynapticNet's backbone without the gating.

    conv3×3 → BatchNorm (``batch_norm=False``: a conv bias instead) → ReLU (→ 2×2 max-pool after the
    layers in ``pool_after``; default: every one) per entry of ``conv_channels``; flatten (after
    average-pooling the maps to ``pooled_size``², if set); Linear → ReLU → Dropout per entry of
    ``hidden``; then ``heads[task_id]``. The same layers, in the same order, as SynapticNet's
    network with the same arguments — ``conv_channels=()`` too: an MLP on the flattened image
    (``hidden`` must then have at least one layer).
    """

    def __init__(self, conv_channels: Sequence[int] = (32, 64, 128), hidden: Sequence[int] = (256,),
                 num_classes: Sequence[int] | int = (10,), dropout: float = 0.1, in_channels: int = 3,
                 image_size: int = 32, pooled_size: int | None = None,
                 pool_after: Sequence[int] | None = None, batch_norm: bool = True,
                 identity_init: bool = False) -> None:
        super().__init__()
        if not conv_channels and not hidden:
            raise ValueError("the network needs at least one layer: conv_channels and hidden are both empty")
        layers: list[nn.Module] = []
        width = in_channels
        pools, side = pooled_layers(len(conv_channels), pool_after, image_size)  # checked as SynapticNet's network
        for i, c in enumerate(conv_channels):
            layers += [nn.Conv2d(width, c, 3, padding=1, bias=not batch_norm), *[nn.BatchNorm2d(c)] * batch_norm,
                       nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if i in pools else []
            width = c
        if pooled_size is not None:
            layers.append(nn.AdaptiveAvgPool2d(pooled_size))
            side = pooled_size
        layers.append(nn.Flatten())
        width *= side**2
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        if identity_init:  # Profile.identity_init: each conv's first filters start as the identity
            identity_init_network(self.body)
        self.feature_dim = width
        self.heads = nn.ModuleList()
        for k in [num_classes] if isinstance(num_classes, int) else num_classes:
            self.add_head(k)
        self.last_features: Tensor | None = None  # kept by forward() for losses on other heads

    @property
    def num_tasks(self) -> int:
        return len(self.heads)

    def add_head(self, num_classes: int) -> int:
        """Add an output head for a new task; returns its task id."""
        ref = next(self.body.parameters())
        self.heads.append(nn.Linear(self.feature_dim, num_classes).to(ref.device, ref.dtype))
        return self.num_tasks - 1

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        self.last_features = self.body(x)
        return self.heads[task_id](self.last_features)

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.body.parameters())

    # The accounting methods of MultiTaskConvSynapticNet, so the runner's results read the same for every method.
    def num_parameters(self, task_id: int | None = None) -> int:
        body = sum(p.numel() for p in self.body.parameters())
        if task_id is None:
            return body + sum(p.numel() for p in self.heads.parameters())
        return body + sum(p.numel() for p in self.heads[task_id].parameters())

    def parameters_per_task(self) -> list[int]:
        """Task 0 created the backbone and its head; every later task only its head."""
        heads = [sum(p.numel() for p in h.parameters()) for h in self.heads]
        return [heads[0] + sum(p.numel() for p in self.body.parameters()), *heads[1:]]


class SeparateNetworks(nn.Module):
    """One independent :class:`MultiHeadCNN` per task (no sharing): ``nets[t](x)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs
        self.nets = nn.ModuleList()

    @property
    def num_tasks(self) -> int:
        return len(self.nets)

    def add_head(self, num_classes: int) -> int:
        """A new task gets a whole new network."""
        self.nets.append(MultiHeadCNN(num_classes=(num_classes,), **self.kwargs))
        return self.num_tasks - 1

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        return self.nets[task_id](x, 0)

    def num_parameters(self, task_id: int | None = None) -> int:
        if task_id is None:
            return sum(p.numel() for p in self.parameters())
        return self.nets[task_id].num_parameters()

    def parameters_per_task(self) -> list[int]:
        return [net.num_parameters() for net in self.nets]


def final_width(profile: Profile, tasks: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """SynapticNet's width per layer after the last task: task 0's widths + every growth."""
    conv, hidden = list(profile.conv_channels), list(profile.hidden)
    for name in tasks[1:]:
        g_conv, g_hidden = profile.growth_for(name)
        conv = [c + g for c, g in zip(conv, g_conv)]
        hidden = [h + g for h, g in zip(hidden, g_hidden)]
    return tuple(conv), tuple(hidden)


def build_shared(profile: Profile, tasks: Sequence[str], first_classes: int) -> MultiHeadCNN:
    """The shared network of the baselines: SynapticNet's final width, one head for task 0."""
    conv, hidden = final_width(profile, tasks)
    return MultiHeadCNN(conv, hidden, (first_classes,), profile.dropout, profile.channels, profile.image_size,
                        profile.pooled_size, profile.pool_after, profile.batch_norm, profile.identity_init)
