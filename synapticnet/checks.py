"""Checking arguments before any work starts: one readable error instead of a traceback from deep inside torch."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

MODES: tuple[str, ...] = ("reuse", "isolate")  # how a task-gated layer's new units read older ones


def check_count(value: object, what: str, minimum: int = 0) -> int:
    """Return ``value`` as an ``int >= minimum``; raise a clear error otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got a bool ({value!r})")
    try:
        number = operator.index(value)  # accepts int and numpy integers, rejects 2.5
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} ({value!r})") from None
    if number < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {number}")
    return number


YES_WORDS, NO_WORDS = ("1", "true", "yes"), ("0", "false", "no")


def yes_no(text: object, words: tuple[tuple[str, ...], tuple[str, ...]] = (YES_WORDS, NO_WORDS)) -> bool | None:
    """``True``/``False`` for a word of ``words`` = (yes words, no words), any case, blanks ignored;
    ``None`` for anything else — the caller says what is allowed. Never ``bool(text)``: ``bool("false")`` is True."""
    word = str(text).strip().lower()
    return True if word in words[0] else False if word in words[1] else None


# -- the arguments of the task-gated network (synapticnet.guarded checks them for synapticnet.model) ---------
def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known connectivity mode, else raise ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def per_layer(value: int | Sequence[int] | None, layers: Sequence[int], what: str) -> int | list[int] | None:
    """A growth size, checked: ``None`` (the model's default), one int for every layer, or one int per layer
    (as many as ``layers``); returned as plain ints for ``MultiTaskConvSynapticNet.growth_sizes`` to expand."""
    if value is None:
        return None
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) != len(layers):
            raise ValueError(f"{what} must have one entry per layer ({len(layers)}), got {len(value)}: {list(value)}")
        return [check_count(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return check_count(value, what)  # one int for every layer (TypeError otherwise)


def pooled_layers(num_layers: int, pool_after: Sequence[int] | None, image_size: int) -> tuple[list[int], int]:
    """``(conv layers followed by a 2×2 max-pool, side of the last feature map)`` of a conv stack.

    ``pool_after`` lists layer indices (``None``: every layer); an index past the last layer, or
    an ``image_size`` the pools cannot halve that often, is a ``ValueError``."""
    pools = list(range(num_layers)) if pool_after is None else sorted(
        {check_count(i, "pool_after entry") for i in pool_after})
    if pools and pools[-1] >= num_layers:
        raise ValueError(f"pool_after {list(pool_after)} names a conv layer that does not exist "
                         f"(layers 0 … {num_layers - 1})")
    if image_size % 2 ** len(pools):
        raise ValueError(f"image_size {image_size} must be divisible by 2**{len(pools)} = "
                         f"{2 ** len(pools)} (one 2x2 max-pool per entry of pool_after)")
    return pools, image_size // 2 ** len(pools)


def network_config(in_channels: int, conv_channels: Sequence[int], hidden: Sequence[int], num_classes: int,
                   image_size: int, dropout: float, mode: str, kernel_size: int, pooled_size: int | None,
                   dense_mode: str | None, pool_after: Sequence[int] | None) -> tuple[dict[str, Any], list[int], int]:
    """``(config, pooled conv layers, side of the last feature map)`` of a ``MultiTaskConvSynapticNet``, every
    argument checked (one clear error naming it) and normalised (plain ints and lists)."""
    conv_channels = [check_count(c, "conv_channels entry", 1) for c in conv_channels]
    hidden = [check_count(h, "hidden entry", 1) for h in hidden]
    image_size = check_count(image_size, "image_size", 1)
    if not conv_channels and not hidden:
        raise ValueError("the network needs at least one layer: conv_channels and hidden are both empty")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    pools, spatial = pooled_layers(len(conv_channels), pool_after, image_size)  # side after the last pool
    if pooled_size is not None and check_count(pooled_size, "pooled_size", 1) > spatial:
        raise ValueError(f"pooled_size {pooled_size} is larger than the last feature map "
                         f"({spatial}×{spatial}); use at most {spatial}, or None")
    config = dict(
        in_channels=check_count(in_channels, "in_channels", 1), conv_channels=conv_channels, hidden=hidden,
        num_classes=check_count(num_classes, "num_classes", 1), image_size=image_size, dropout=float(dropout),
        mode=check_mode(mode), kernel_size=check_count(kernel_size, "kernel_size", 1),
        pooled_size=None if pooled_size is None else int(pooled_size),
        dense_mode=None if dense_mode is None else check_mode(dense_mode),
        pool_after=None if pool_after is None else pools,
    )
    if mode == "isolate" and dense_mode == "reuse":
        raise ValueError("dense_mode='reuse' needs mode='reuse': dense layers can only reuse older tasks' "
                         "units if the conv layers pass them on")
    return config, pools, spatial


def check_images(x: Any, channels: int, size: int, dtype: Any) -> None:
    """Raise a clear error unless ``x`` is a ``(N, channels, size, size)`` tensor of ``dtype``."""
    from torch import Tensor  # imported by whoever calls this; this module itself stays light

    if not isinstance(x, Tensor):
        raise TypeError(f"expected a torch.Tensor of shape (N, {channels}, {size}, {size}), got {type(x).__name__}")
    if x.dtype != dtype:
        hint = ("convert and normalise it first (TaskDataset does: its batches are float32, normalised)"
                if not x.is_floating_point() else f"use x.to({dtype}) (or model.to({x.dtype}))")
        raise TypeError(f"the model computes in {dtype} but the images are {x.dtype}: {hint}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, size, size):
        raise ValueError(f"expected images of shape (N, {channels}, {size}, {size}), got {tuple(x.shape)}"
                         + (" — a single image needs a batch dimension: x.unsqueeze(0)" if x.dim() == 3 else ""))


# -- how large a network may become: one bound for grow(), widen() and loading a checkpoint -------------
# Anything asking for more is refused with one line before memory is allocated (a checkpoint is untrusted).
MAX_UNITS, MAX_CLASSES, MAX_IMAGE_SIZE, MAX_LAYERS, MAX_GROWTH_STEPS, MAX_PARAMETERS = (
    2048, 100_000, 512, 16, 256, 2 * 10**8)


class SizeError(ValueError):
    """A network larger than the ``MAX_*`` limits was asked for (by ``grow()``, ``widen()`` or a checkpoint);
    ``detail`` says what (``"parameters 312,639,268 (at most 200,000,000)"``)."""

    def __init__(self, detail: str, op: str | None = None) -> None:
        super().__init__(f"{op}() asks for too large a network: {detail}" if op else detail)
        self.detail = detail


def check_size(model: Any, op: str, conv: Sequence[int], hidden: Sequence[int], num_classes: int = 0) -> None:
    """Refuse (``ValueError``) a ``grow()`` / ``widen()`` of ``model`` by ``conv`` / ``hidden`` units per layer
    that would give one block more than ``MAX_UNITS`` units, a head more than ``MAX_CLASSES`` classes, or the
    network more than ``MAX_PARAMETERS`` parameters — computed from the sizes alone, before anything is built."""
    widen = op == "widen"
    task = model.trainable_task if widen else model.num_tasks
    if num_classes > MAX_CLASSES:
        raise SizeError(f"classes in one head {num_classes:,} (at most {MAX_CLASSES:,})", op)
    added, previous, side2 = 0, 0, model.feature_side ** 2
    for i, (layer, g) in enumerate(zip(model.task_layers, [*conv, *hidden])):
        previous *= side2 if i == len(model.convs) else 1  # the first dense layer reads flattened maps
        old = layer.blocks[task] if widen else None
        units = g + (old.out_units if widen else 0)
        if units > MAX_UNITS:
            raise SizeError(f"units in one block {units:,} (at most {MAX_UNITS:,}; task {task}, "
                            f"task-gated layer {i})", op)
        if layer.shared_input:
            reads = layer.in_units_per_task[0]
        else:
            own = previous + (layer.in_units_per_task[task] if widen else 0)
            reads = own + (sum(layer.in_units_per_task[:task]) if layer.mode == "reuse" else 0)
        per_unit = reads * getattr(layer, "kernel_size", 1) ** 2 + 2  # weights, bias or BatchNorm's two
        added += units * per_unit - (sum(p.numel() for p in old.parameters()) if widen else 0)
        previous = g
    last = model.task_layers[-1]
    own = [*conv, *hidden][-1] * (1 if model.dense else side2)
    head_in = own + (last.out_units_for(task - 1) * (1 if model.dense else side2)
                     if task and last.mode == "reuse" else 0)
    added += head_in * max(num_classes, model.heads[task].out_features if widen else 0)
    total = model.num_parameters() + added
    if total > MAX_PARAMETERS:
        raise SizeError(f"parameters {total:,} (at most {MAX_PARAMETERS:,})", op)


def check_flag(value: object, name: str) -> bool:
    """``value`` if it is ``True`` or ``False``, else a ``ValueError`` naming the option."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value
