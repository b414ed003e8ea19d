"""Synthetic stand-ins: small procedural image datasets that are really learnable.

Tests, CI and the notebooks' smoke mode must run offline in seconds, so they cannot use
MNIST or CIFAR. What they need instead is data with the same *shape* (uint8 images,
integer labels, train/test split) and with real structure for a network to learn —
random noise with random labels would make every accuracy ≈ chance and hide bugs.

The recipe, one idea per step:

1. **A prototype per class.** Each class gets its own smooth picture: a few pen strokes
   (random walks drawn with a soft Gaussian pen) and sometimes a soft blob. In colour,
   every stroke has its own colour and the class has a dark background tint.
2. **Variation per sample.** A sample is its class prototype, shifted by a few pixels,
   with random contrast (and, in colour, a small colour cast), plus pixel noise. So no
   two samples are identical and a model has to generalise, not memorise.
3. **Deterministic.** Everything comes from one ``numpy`` generator seeded with ``seed``:
   the same seed gives bit-identical arrays on every machine, another seed gives another
   dataset (other prototypes, other samples).

The result is in exactly the format of the real datasets (see :func:`synapticnet.data.load_arrays`):
``x`` uint8 ``N×H×W`` (grey) or ``N×H×W×3`` (RGB), ``y`` int64. It is *not* real data:
results on it say that the code works, never how well a method works on MNIST or CIFAR.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_synthetic", "class_prototypes"]


def _stroke(rng: np.random.Generator, size: int) -> np.ndarray:
    """Points along one smooth random pen stroke (a random walk that turns gently)."""
    steps = int(rng.integers(5, 9))
    step_len = size / 10
    point = rng.uniform(0.3 * size, 0.7 * size, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    points = [point]
    for _ in range(steps):
        angle += rng.normal(0.0, 0.6)
        nxt = np.clip(points[-1] + step_len * np.array([np.sin(angle), np.cos(angle)]), 0.15 * size, 0.85 * size)
        prev = points[-1]
        # four sub-points per step so the Gaussian pen draws a continuous line
        points.extend(prev * (1 - t) + nxt * t for t in (0.25, 0.5, 0.75, 1.0))
    return np.asarray(points)


def _render(points: np.ndarray, size: int, width: float) -> np.ndarray:
    """Draw points with a soft round pen of standard deviation ``width`` pixels; values in [0, 1]."""
    grid = np.arange(size, dtype=np.float64)
    dy = (grid[None, :] - points[:, 0:1]) ** 2  # (P, size)
    dx = (grid[None, :] - points[:, 1:2]) ** 2
    ink = np.exp(-(dy[:, :, None] + dx[:, None, :]) / (2 * width**2))  # (P, size, size)
    return ink.max(axis=0)  # a pen does not get darker where the line crosses itself


def class_prototypes(num_classes: int, image_size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """One smooth prototype image per class, float in [0, 1], shape ``(K, C, S, S)``."""
    protos = np.zeros((num_classes, channels, image_size, image_size))
    width = 1.1 * image_size / 28  # about the stroke width of an MNIST digit
    for k in range(num_classes):
        background = rng.uniform(0.0, 0.3, size=channels) if channels == 3 else np.zeros(channels)
        image = np.broadcast_to(background[:, None, None], protos.shape[1:]).copy()
        shapes = [_render(_stroke(rng, image_size), image_size, width) for _ in range(int(rng.integers(2, 4)))]
        if rng.random() < 0.5:  # a soft blob: some classes are "filled", like a shirt or a frog
            centre = rng.uniform(0.3 * image_size, 0.7 * image_size, size=(1, 2))
            shapes.append(0.7 * _render(centre, image_size, rng.uniform(2.5, 4.5) * image_size / 28))
        for ink in shapes:
            colour = rng.uniform(0.35, 1.0, size=channels) if channels == 3 else np.ones(1)
            image = np.maximum(image, colour[:, None, None] * ink[None])
        protos[k] = image
    return protos


def _clutter_bank(count: int, image_size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` stray strokes, float32 ``(M, C, S, S)``, that any sample of any class may carry."""
    width = 1.1 * image_size / 28
    bank = np.empty((count, channels, image_size, image_size), dtype=np.float32)
    for i in range(count):
        colour = rng.uniform(0.35, 1.0, size=channels) if channels == 3 else np.ones(1)
        bank[i] = colour[:, None, None] * _render(_stroke(rng, image_size), image_size, width)[None]
    return bank


def _balanced_labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels, every class equally often (±1), in random order."""
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def _samples(protos: np.ndarray, labels: np.ndarray, rng: np.random.Generator, noise: float,
             max_shift: int, clutter: np.ndarray | None) -> np.ndarray:
    """Shifted, contrast-jittered, noisy copies of the prototypes; uint8 ``(N, C, S, S)``."""
    n, (k, c, s, _) = len(labels), protos.shape
    m = max_shift
    padded = np.pad(protos, ((0, 0), (0, 0), (m, m), (m, m)), mode="edge").astype(np.float32)
    shifts = rng.integers(-m, m + 1, size=(n, 2))
    out = np.empty((n, c, s, s), dtype=np.float32)
    for dy in range(-m, m + 1):  # one vectorised copy per possible shift, not one per sample
        for dx in range(-m, m + 1):
            sel = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            if len(sel):
                out[sel] = padded[labels[sel], :, m + dy: m + dy + s, m + dx: m + dx + s]
    if clutter is not None:  # one stray stroke per sample, shared by all classes: pure distraction
        pick = rng.integers(0, len(clutter), size=n)
        strength = rng.uniform(0.3, 0.9, size=(n, 1, 1, 1)).astype(np.float32)
        np.maximum(out, strength * clutter[pick], out=out)
    contrast = rng.uniform(0.6, 1.0, size=(n, 1, 1, 1)).astype(np.float32)
    cast = (1 + 0.1 * rng.standard_normal((n, c, 1, 1))).astype(np.float32) if c == 3 else np.float32(1)
    out *= 255 * contrast * cast
    if noise:
        out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(255 * noise)
    np.clip(np.rint(out, out=out), 0, 255, out=out)  # in place: these arrays can be large
    return out.astype(np.uint8)


def make_synthetic(
    num_classes: int = 10,
    image_size: int = 28,
    channels: int = 1,
    n_train: int = 2000,
    n_test: int = 500,
    seed: int = 0,
    *,
    noise: float = 0.2,
    max_shift: int = 3,
    clutter: int = 32,
) -> dict[str, np.ndarray]:
    """A learnable procedural dataset in the format of :func:`synapticnet.data.load_arrays`.

    Args:
        num_classes: number of classes ``K`` (labels ``0 … K-1``, balanced).
        image_size: side ``S`` of the square images (28 like MNIST, 32 like CIFAR, any ≥ 8).
        channels: 1 (grey, ``x`` is ``N×S×S``) or 3 (RGB, ``x`` is ``N×S×S×3``).
        n_train, n_test: number of training and test images.
        seed: the same seed always gives the same arrays; different seeds, different data.
        noise: standard deviation of the pixel noise (on the 0…1 scale): the difficulty knob.
        max_shift: samples are shifted by up to this many pixels in each direction.
        clutter: size of a bank of stray strokes; every sample gets one of them on top
            (0: none). Makes classes overlap, so accuracy does not saturate at 100 %.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test"}``: ``x`` uint8, ``y`` int64.
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer ≥ 2, got {num_classes!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ValueError(f"image_size must be an integer ≥ 8, got {image_size!r}")
    if n_train < 1 or n_test < 0:
        raise ValueError(f"need n_train ≥ 1 and n_test ≥ 0, got n_train={n_train}, n_test={n_test}")
    if noise < 0 or max_shift < 0 or clutter < 0:
        raise ValueError(f"noise, max_shift and clutter must be ≥ 0, got {noise}, {max_shift}, {clutter}")
    rng = np.random.default_rng(seed)
    protos = class_prototypes(num_classes, image_size, channels, rng)
    bank = _clutter_bank(clutter, image_size, channels, rng) if clutter else None
    arrays: dict[str, np.ndarray] = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = _balanced_labels(n, num_classes, rng)
        x = _samples(protos, labels, rng, noise, max_shift, bank)  # (N, C, S, S)
        arrays[f"x_{split}"] = x[:, 0] if channels == 1 else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        arrays[f"y_{split}"] = labels
    return {key: arrays[key] for key in ("x_train", "y_train", "x_test", "y_test")}
