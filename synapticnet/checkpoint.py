"""Checkpoints of a :class:`~synapticnet.model.MultiTaskConvSynapticNet`: the format, and the checks a file
must pass before a network is built from it.

A checkpoint is ``{"format", "version", "config", "growth", "state_dict"}``: the constructor's arguments,
the record of every ``grow()`` / ``widen()`` / ``compact()`` call, and the weights. Loading replays the
record on a fresh model, then copies the weights in. Nothing in a file is trusted:

1. before any work, the record itself is checked: its types, at most ``MAX_GROWTH_STEPS`` steps and
   ``MAX_LAYERS`` layers, every size a plain integer within ``MAX_UNITS`` / ``MAX_CLASSES``, finite weights;
2. the record is replayed on the ``meta`` device (shapes, no memory), and every ``grow()`` / ``widen()``
   checks the same size bound it checks in training (:func:`synapticnet.checks.check_size`) *before* its
   step, so a record describing an absurd network stops at the first step that crosses the bound;
3. the shapes it describes must be those of the weights in the file, key by key — so the network built
   for real is never larger than the file (whose decompressed size :func:`synapticnet.storage.load_torch`
   bounds from the zip's directory before reading it);
4. then the network is built and the weights loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .checks import (MAX_CLASSES, MAX_GROWTH_STEPS, MAX_IMAGE_SIZE, MAX_LAYERS, MAX_PARAMETERS, MAX_UNITS,  # noqa: F401
                     SizeError)
from .folders import CHECKPOINT as RUN_CHECKPOINT  # a run folder's {"model": checkpoint(), "state": …}
from .storage import load_torch, save_torch

# This module never imports the model's (no import cycle): the model calls into it and passes its class in
# (``cls``). ``Model`` in the annotations is a MultiTaskConvSynapticNet, annotated as the nn.Module it is.
Model = nn.Module

CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "synapticnet.MultiTaskConvSynapticNet", 1
GROWTH_OPS = ("grow", "widen", "compact")


def checkpoint(model: Model) -> dict[str, Any]:
    """Everything needed to rebuild ``model``: config, growth history and weights."""
    return dict(format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION, config=model.config, growth=model.growth,
                state_dict=model.state_dict())


def save(model: Model, path: str | os.PathLike) -> None:
    """Save atomically (a temporary file next to ``path``, then renamed): never a half-written checkpoint."""
    save_torch(checkpoint(model), path)


def load(path: str | os.PathLike, map_location: str | torch.device,
         cls: type[Model]) -> Model:
    """Load what was trained — the one call for it, whatever wrote it.

    ``path`` is a file written by :func:`save`, a run's ``checkpoint.pt`` (a dict whose ``"model"`` entry is
    :func:`checkpoint`, next to the run's own ``"state"``), or a run folder holding one. Every task comes back
    as trained, task-inference statistics included. Unpickling is safe (``weights_only``); the contents are
    checked as in :func:`from_checkpoint`."""
    path = Path(path) / RUN_CHECKPOINT if Path(path).is_dir() else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return from_checkpoint(load_torch(path, "SynapticNet checkpoint"), str(path), cls).to(map_location)


def from_checkpoint(checkpoint: Any, source: str, cls: type[Model]) -> Model:
    """Rebuild a model (grown shapes, task ids, frozen blocks) from :func:`checkpoint` (or a run's checkpoint).

    A record that does not rebuild the network its weights belong to, holds NaN/inf, or describes an
    implausibly large network (``MAX_*``, checked while the record is replayed, before memory is
    allocated) is refused with a one-line ``ValueError`` naming what is wrong. ``cls``: the model class to
    build (the model's own ``load`` / ``from_checkpoint`` pass it: this module never imports the model's)."""
    if isinstance(checkpoint, dict) and "format" not in checkpoint and isinstance(checkpoint.get("model"), dict):
        checkpoint = checkpoint["model"]  # a run's checkpoint: the model next to the run's state
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{source} is not a SynapticNet checkpoint: expected a dict with "
                         f"format={CHECKPOINT_FORMAT!r} as written by MultiTaskConvSynapticNet.save()")
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{source} has checkpoint version {checkpoint.get('version')!r}; "
                         f"this code reads version {CHECKPOINT_VERSION}")
    config, growth, state = (checkpoint.get(key) for key in ("config", "growth", "state_dict"))
    try:
        check_record(config, growth, state)
    except SizeError as error:
        raise _implausible(source, error) from None
    except (TypeError, ValueError) as error:
        raise _damaged(source, error) from None
    for name, value in state.items():
        if value.is_floating_point() and not bool(value.isfinite().all()):
            raise ValueError(f"{source} holds NaN or inf in {name}: the training that wrote it diverged, or the "
                             "file is damaged; refusing to load it")
    try:
        with torch.device("meta"):  # shapes without memory, every step within the size bound
            described = rebuild(cls, config, growth)
        if problem := implausible(described):
            raise SizeError(problem)
        wrong = mismatch(described, state)
        if not wrong:
            model = rebuild(cls, config, growth)
            if any(key.startswith("task_statistics.") for key in state):
                from .task_inference import statistics
                statistics(model)  # task inference's buffers (filled by load_state_dict)
            model.load_state_dict(state)
    except SizeError as error:
        raise _implausible(source, error) from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as error:
        raise _damaged(source, error) from error
    if wrong:
        raise ValueError(f"{source} is damaged: its config and growth record do not rebuild the network its "
                         f"weights belong to ({wrong})")
    return model


def _implausible(source: str, error: SizeError) -> ValueError:
    return ValueError(f"{source} is damaged or implausible: it asks for {error.detail}; refusing to build it")


def _damaged(source: str, error: BaseException) -> ValueError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(f"{source} is damaged: its config and growth record do not rebuild the network its "
                      f"weights belong to ({first[:200]})")


def check_record(config: Any, growth: Any, state: Any) -> None:
    """The budget of a checkpoint, checked before any work: a config dict whose lists have at most
    ``MAX_LAYERS`` entries, at most ``MAX_GROWTH_STEPS`` known growth steps, every size an integer within
    ``MAX_UNITS`` / ``MAX_CLASSES`` / ``MAX_IMAGE_SIZE``, and weights that are tensors."""
    if not isinstance(config, dict) or not isinstance(growth, (list, tuple)) or not isinstance(state, dict):
        raise TypeError("expected config (a dict), growth (a list) and state_dict (a dict)")
    lists = [v for v in config.values() if isinstance(v, (list, tuple))]
    if len(growth) > MAX_GROWTH_STEPS or max(map(len, lists), default=0) > MAX_LAYERS:
        raise SizeError(f"over {MAX_GROWTH_STEPS} growth steps or {MAX_LAYERS} layers")
    sizes = [("image_size", config.get("image_size"), MAX_IMAGE_SIZE), ("classes in one head",
             config.get("num_classes"), MAX_CLASSES), ("input channels", config.get("in_channels"), MAX_UNITS)]
    sizes += [("units in one block", v, MAX_UNITS) for key in ("conv_channels", "hidden") for v in config.get(key) or ()]
    for i, step in enumerate(growth):
        if not isinstance(step, dict) or step.get("op") not in GROWTH_OPS:
            op = step.get("op") if isinstance(step, dict) else step
            raise ValueError(f"unknown growth operation {str(op)[:40]!r} in step {i} (known: {', '.join(GROWTH_OPS)})")
        sizes.append(("classes in one head", step.get("num_classes", 0), MAX_CLASSES))
        for key in ("grow_conv_channels", "grow_hidden", "conv_channels", "hidden"):
            value = step.get(key, ())
            sizes += [("units in one block", v, MAX_UNITS) for v in (value if isinstance(value, (list, tuple))
                                                                    else [value])]
    for what, value, limit in sizes:
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise SizeError(f"{what} {value:,} (at most {limit:,})")
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise TypeError("state_dict holds something else than named tensors")


def rebuild(cls: type[Model], config: dict[str, Any],
            growth: list[dict[str, Any]]) -> Model:
    """A fresh model of ``config`` with the ``growth`` record's grow() / widen() / compact() calls replayed
    (a compaction keeps the first units: the weights copied in afterwards say what they are)."""
    model = cls(**config)
    for step in map(dict, growth):
        step.pop("task", None)  # widen() and compact() always act on the newest task
        op = step.pop("op")
        if op == "compact":
            sizes = [*step.pop("conv_channels"), *step.pop("hidden")]
            if step:
                raise ValueError(f"unexpected compact() arguments {sorted(step)}")
            model.keep_units([torch.arange(int(k), device="cpu") for k in sizes])
        else:
            getattr(model, op)(**step)
    return model


def implausible(model: Model) -> str:
    """What makes the network ``model`` describes too large to believe ("" if nothing does)."""
    units = [model.config["in_channels"]] + [b.out_units for layer in model.task_layers for b in layer.blocks]
    for what, value, limit in (("image_size", model.config["image_size"], MAX_IMAGE_SIZE),
                               ("units in one block", max(units), MAX_UNITS),
                               ("classes in one head", max(head.out_features for head in model.heads), MAX_CLASSES),
                               ("parameters", model.num_parameters(), MAX_PARAMETERS)):
        if value > limit:
            return f"{what} {value:,} (at most {limit:,})"
    return ""


def mismatch(model: Model, state: dict[str, Tensor]) -> str:
    """Where the weights ``state`` differ from the shapes of ``model`` (built on the meta device): the
    first missing, unexpected or differently shaped entry ("" if they match)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("task_statistics.")}
    for key in [*expected, *given]:
        if expected.get(key) != given.get(key):
            return (f"{key}: the record gives {expected.get(key, 'no such entry')}, "
                    f"the weights {given.get(key, 'nothing')}")
    return ""
