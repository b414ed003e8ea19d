"""A fixed first layer that whitens each task's images (the fast CIFAR-10 recipes' first layer).

Neighbouring pixels of a photograph are strongly correlated, and a network's first layers spend much of
their early training learning to undo that. The fast CIFAR-10 recipes (hlb-cifar10, airbench) skip this:
their first convolution is not trained but *computed* from the training images, as a whitening of their
2×2 patches. Here each task gets its own such layer, estimated from its own images (a network built with
``whiten=True``, :class:`~synapticnet.model.MultiTaskConvSynapticNet`), so zero forgetting stays exact:
a task's whitening is frozen with the rest of its column.

The maths. Every 2×2 patch of the images is a vector ``p`` of ``4C`` values (``C`` channels); the
second moment ``E[p pᵀ] = V Λ Vᵀ`` has eigenvectors ``vᵢ`` (the patches' principal directions) and
eigenvalues ``λᵢ`` (how much the patches vary along them). The filter ``vᵢ / √(λᵢ + eps)`` answers with
the patch's coordinate along ``vᵢ`` scaled to unit variance: the outputs are uncorrelated and equally
loud. Each direction appears twice, ``+vᵢ`` and ``−vᵢ``, so that the ReLU after the layer keeps both
signs. Directions the images never vary along (grey images repeated over three channels have 4 of 12)
get zero filters rather than amplified rounding noise.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# Eigenvalues below this fraction of the largest are directions the images do not vary along.
FLAT = 1e-5


def patch_whitening(images: Tensor, kernel_size: int = 2, eps: float = 5e-4) -> Tensor:
    """Filters ``(2·C·k², C, k, k)`` whitening the ``k×k`` patches of ``images`` ``(N, C, H, W)``: the
    principal directions, largest first, each scaled by ``1/√(λ + eps)``, then the same negated."""
    c = images.shape[1]
    patches = images.double().unfold(2, kernel_size, 1).unfold(3, kernel_size, 1)  # N, C, H', W', k, k
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel_size**2)
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)  # largest first
    filters = eigenvectors.T / (eigenvalues + eps).sqrt()[:, None]
    filters[eigenvalues < FLAT * eigenvalues[0]] = 0.0
    filters = filters.reshape(-1, c, kernel_size, kernel_size)
    return torch.cat([filters, -filters]).float()


@torch.no_grad()
def whiten_task(model: nn.Module, images: Tensor, eps: float = 5e-4) -> None:
    """Set the newest task's whitening filters from its training images ``(N, C, H, W)`` (normalised, not
    augmented; the fast recipes use 5,000) and zero its biases. The filters are never trained; the biases
    learn with the task."""
    if getattr(model, "whitening", None) is None:
        raise ValueError("the model has no whitening layer: build it with whiten=True (and mode='isolate')")
    unit = model.whitening.blocks[model.trainable_task].unit
    if images.dim() != 4 or images.shape[1] != unit.weight.shape[1]:
        raise ValueError(f"expected images of shape (N, {unit.weight.shape[1]}, H, W), got {tuple(images.shape)}")
    unit.weight.copy_(patch_whitening(images, unit.weight.shape[-1], eps))
    unit.bias.zero_()
