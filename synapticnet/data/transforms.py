"""Image tensors: PyTorch's layout, padding to the network's size, statistics, augmentation.

Pure functions on image tensors ``N×C×H×W`` (uint8, except :func:`erase_batch`, which works on
any), used by :class:`~synapticnet.data.TaskDataset` on whole batches at once (no Python loop over
images, no PIL).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["ERASE_AREA", "ERASE_ASPECT", "augment_batch", "channel_stats", "erase_batch", "pad_to", "to_nchw"]

ERASE_AREA: tuple[float, float] = (0.02, 0.4)  # random erasing: the share of the image a rectangle covers (the paper's)
ERASE_ASPECT: tuple[float, float] = (0.3, 1 / 0.3)  # and its height / width


def to_nchw(x: np.ndarray) -> Tensor:
    """uint8 images ``N×H×W`` or ``N×H×W×C`` → a uint8 tensor ``N×C×H×W`` (PyTorch's layout)."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def pad_to(images: Tensor, size: int) -> Tensor:
    """Zero-pad ``N×C×H×W`` images to ``size×size``, centred (an odd remainder goes bottom/right)."""
    _, _, h, w = images.shape
    if h > size or w > size:
        raise ValueError(f"images of {h}×{w} do not fit into image_size={size}; "
                         f"choose image_size ≥ {max(h, w)} (images are padded, never shrunk)")
    if h == size and w == size:
        return images.contiguous()
    top, left = (size - h) // 2, (size - w) // 2
    out = images.new_zeros(images.shape[0], images.shape[1], size, size)
    out[:, :, top:top + h, left:left + w] = images
    return out


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Exact per-channel mean and std (0…1 scale) of uint8 ``N×C×H×W`` images.

    A uint8 pixel has only 256 possible values, so a histogram per channel gives the
    exact mean and variance without ever making a float copy of the images.
    """
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / n
        means.append(mean / 255)
        stds.append(var.sqrt() / 255)
    return torch.stack(means).float(), torch.stack(stds).float()


def augment_batch(images: Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True,
                  flipped: Tensor | None = None) -> Tensor:
    """Random crop (after zero-padding by ``padding`` px) and random horizontal flip, per image.

    The classic CIFAR augmentation, done for a whole uint8 batch at once: pad the
    batch, draw one offset and one coin flip per image, and pick every output pixel
    with two ``gather`` calls (rows, then columns — a flip just reverses the column
    order). No Python loop over images, no PIL. ``flipped`` (a boolean per image) decides
    the flips instead of coins (alternating flips: :class:`~synapticnet.data.TaskDataset`).
    """
    b, c, h, w = images.shape
    if padding:
        padded = images.new_zeros(b, c, h + 2 * padding, w + 2 * padding)
        padded[:, :, padding:padding + h, padding:padding + w] = images
    else:
        padded = images
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    cols = torch.arange(w).expand(b, w)
    if flip:
        if flipped is None:
            flipped = torch.rand(b, generator=generator) < 0.5
        elif flipped.shape != (b,):
            raise ValueError(f"flipped must hold one boolean per image ({b}), got shape {tuple(flipped.shape)}")
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    rows = (oy[:, None] + torch.arange(h)).view(b, 1, h, 1).expand(b, c, h, padded.shape[3])
    cols = (ox[:, None] + cols).view(b, 1, 1, w).expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def erase_batch(images: Tensor, generator: torch.Generator, p: float = 0.5, scale: tuple[float, float] = ERASE_AREA,
                ratio: tuple[float, float] = ERASE_ASPECT, value: float = 0.0) -> Tensor:
    """Random erasing (Zhong et al., 2017, arXiv:1708.04896): with probability ``p`` per image, one rectangle
    is set to ``value``.

    The rectangle covers a fraction of the image drawn uniformly from ``scale``, with an aspect ratio
    (height / width) drawn log-uniformly from ``ratio``, at a uniformly random place where it fits. A network
    that may lose any part of an object must learn more than one cue for it: the paper's remedy for
    overfitting, beside flips and crops. On normalised images the default ``value`` 0 is the training
    mean (the paper's "mean" fill). Where the paper draws again when a rectangle is too tall or wide
    for the image, here it is cut to the image's side. Returns a new tensor; ``images`` is not changed.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability between 0 and 1, got {p!r}")
    b, _, h, w = images.shape
    erased = torch.rand(b, generator=generator) < p
    area = h * w * torch.empty(b).uniform_(scale[0], scale[1], generator=generator)
    aspect = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator).exp()
    eh = (area * aspect).sqrt().round().clamp(1, h).long()
    ew = (area / aspect).sqrt().round().clamp(1, w).long()
    top = (torch.rand(b, generator=generator) * (h - eh + 1)).long()
    left = (torch.rand(b, generator=generator) * (w - ew + 1)).long()
    rows, cols = torch.arange(h), torch.arange(w)
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])  # b × h
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])  # b × w
    mask = in_rows[:, :, None] & in_cols[:, None, :] & erased[:, None, None]
    return images.masked_fill(mask[:, None], value)
