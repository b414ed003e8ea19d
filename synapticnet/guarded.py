"""The network as the package hands it out: :mod:`synapticnet.model`'s, guarded. A first reading may skip this.

``synapticnet.MultiTaskConvSynapticNet`` is :class:`synapticnet.model.MultiTaskConvSynapticNet` with what a
student reading the method need not read, added by overriding its methods:

* one-line errors for wrong arguments, before any work (:mod:`synapticnet.checks`): the constructor's
  arguments, task ids, image batches, growth sizes, compaction sizes and scores;
* the size bound: ``grow()`` and ``widen()`` refuse a network over the ``MAX_*`` limits before allocating it
  (:func:`synapticnet.checks.check_size`, the bound loading a checkpoint has too);
* changes that happen completely or not at all: ``grow()``, ``widen()``, ``compact()`` roll back if a layer
  fails half-way (:func:`synapticnet.transactions.all_or_nothing`);
* a clear error for a backward pass through a frozen task (:class:`synapticnet.transactions.FrozenTask`),
  and a warning when the gradient mask sees a task's parameters not change between two steps (an
  optimiser built before ``grow()``: :func:`stale_optimiser_watch`);
* ``compact()`` without scores ranks units by :func:`synapticnet.pruning.unit_importance`;
* ``checkpoint()``, ``save()``, ``load()``, ``from_checkpoint()`` (:mod:`synapticnet.checkpoint`),
  ``infer_task()``, ``predict()`` (:mod:`synapticnet.task_inference`) and ``task_view()`` for ``torchinfo``.

The network computes exactly what ``model.py``'s computes: nothing here changes a forward pass or a weight.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from . import checkpoint as checkpoints
from . import model
from . import task_inference
from .checks import check_count, check_flag, check_images, check_size, network_config, per_layer
from .pruning import units_to_keep
from .transactions import FrozenTask, all_or_nothing

Growth = int | Sequence[int] | None


class MultiTaskConvSynapticNet(model.MultiTaskConvSynapticNet):
    __doc__ = model.MultiTaskConvSynapticNet.__doc__

    @functools.wraps(model.MultiTaskConvSynapticNet.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        arguments = inspect.signature(model.MultiTaskConvSynapticNet.__init__).bind(self, *args, **kwargs)
        arguments.apply_defaults()
        options = {k: v for k, v in arguments.arguments.items() if k != "self"}
        batch_norm, pick = check_flag(options.pop("batch_norm"), "batch_norm"), options.pop("pick")
        whiten = check_flag(options.pop("whiten"), "whiten")
        config, pools, _ = network_config(**options)  # every argument checked, plain ints and lists
        if whiten and (config["mode"] != "isolate" or not config["conv_channels"] or 0 not in pools):
            raise ValueError("whiten=True needs mode='isolate' (each task's column starts from its own whitening of "
                             "the image) and a first conv layer followed by a max-pool (pool_after holding 0)")
        super().__init__(**config, batch_norm=batch_norm, pick=pick, whiten=whiten)

    # -- one clear error instead of a traceback from inside torch ---------------------------
    def check_task_id(self, task_id: object) -> int:
        return super().check_task_id(check_count(task_id, "task_id"))

    def _conv_features(self, x: Tensor, task_id: int, shared: list[Tensor] | None = None) -> list[Tensor | None]:
        check_images(x, self.config["in_channels"], self.config["image_size"], self.heads[0].weight.dtype)
        return super()._conv_features(x, task_id, shared)

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        logits = super().forward(x, task_id)
        if self.training and torch.is_grad_enabled() and not logits.requires_grad:
            # A frozen task in train mode: the forward pass is fine (its statistics stay frozen),
            # but a backward pass through it would fail deep inside autograd. Say why instead.
            tid = self.check_task_id(task_id)
            message = (f"task {tid} is frozen: only the newest task ({self.trainable_task}) can be trained; old tasks "
                       "are kept exactly as they were learned. To evaluate an old task use model.eval() or torch.no_grad()")
            logits = FrozenTask.apply(logits, torch.zeros((), device=logits.device, requires_grad=True), message)
        return logits

    def apply_task_gradient_mask(self, task_id: int) -> None:
        """:meth:`synapticnet.model.MultiTaskConvSynapticNet.apply_task_gradient_mask`, which also warns (once per
        task) when the task's parameters did not change since the last masked step although they had a gradient."""
        super().apply_task_gradient_mask(task_id)
        self._optimiser_watch = stale_optimiser_watch(self, task_id, getattr(self, "_optimiser_watch", None))

    # -- changes: checked first, then all or nothing ----------------------------------------
    def _checked_sizes(self, op: str, grow_conv_channels: Growth, grow_hidden: Growth,
                       num_classes: int = 0) -> tuple[list[int], list[int]]:
        conv, hidden = self.growth_sizes(per_layer(grow_conv_channels, self.config["conv_channels"], "grow_conv_channels"),
                                         per_layer(grow_hidden, self.config["hidden"], "grow_hidden"))
        check_size(self, op, conv, hidden, num_classes)  # the size bound loading has too, before any allocation
        return conv, hidden

    def grow(self, num_classes: int, grow_conv_channels: Growth = None, grow_hidden: Growth = None) -> int:
        """:meth:`synapticnet.model.MultiTaskConvSynapticNet.grow`; a rejected call, or one failing half-way,
        changes nothing."""
        num_classes = check_count(num_classes, "num_classes", 1)
        conv, hidden = self._checked_sizes("grow", grow_conv_channels, grow_hidden, num_classes)
        with _change(self):
            return super().grow(num_classes, conv, hidden)

    def widen(self, grow_conv_channels: Growth = None, grow_hidden: Growth = None) -> int:
        """:meth:`synapticnet.model.MultiTaskConvSynapticNet.widen`; a rejected call, or one failing half-way,
        changes nothing."""
        conv, hidden = self._checked_sizes("widen", grow_conv_channels, grow_hidden)
        with _change(self):
            return super().widen(conv, hidden)

    def compact(self, conv_channels: Sequence[int], hidden: Sequence[int] = (),
                scores: tuple[Sequence[Tensor], Sequence[Tensor]] | None = None) -> int:
        """:meth:`synapticnet.model.MultiTaskConvSynapticNet.compact` (read why a compacted task needs a
        retrain there); ``scores`` default to :func:`synapticnet.pruning.unit_importance`, every argument is
        checked first (:func:`synapticnet.pruning.units_to_keep`) and a rejected call changes nothing."""
        return self.keep_units(units_to_keep(self, conv_channels, hidden, scores))

    def keep_units(self, keep: Sequence[Tensor]) -> int:
        with _change(self):
            return super().keep_units(keep)

    # -- checkpoints (synapticnet.checkpoint) and task inference (synapticnet.task_inference) -----------
    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the model: config, growth history and weights."""
        return checkpoints.checkpoint(self)

    def save(self, path: str | os.PathLike) -> None:
        """Save atomically (a temporary file next to ``path``, then renamed): never a half-written checkpoint."""
        checkpoints.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> MultiTaskConvSynapticNet:
        """Load what was trained: a file written by :meth:`save`, a run's ``checkpoint.pt`` or a run folder
        (:func:`synapticnet.checkpoint.load`). Every task comes back as trained, task inference included."""
        return checkpoints.load(path, map_location, cls)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], source: str = "checkpoint") -> MultiTaskConvSynapticNet:
        """Rebuild a model from :meth:`checkpoint` (or a run's checkpoint); nothing in it is trusted
        (:func:`synapticnet.checkpoint.from_checkpoint`)."""
        return checkpoints.from_checkpoint(checkpoint, source, cls)

    def infer_task(self, x: Tensor, scorer: str = task_inference.DEFAULT_SCORER) -> Tensor:
        """The task (LongTensor (N,)) every image most likely belongs to (:func:`synapticnet.task_inference.infer_task`)."""
        return task_inference.infer_task(self, x, scorer)

    def predict(self, x: Tensor, scorer: str = task_inference.DEFAULT_SCORER) -> tuple[Tensor, Tensor]:
        """``(task ids, class labels within the task)``: the class-incremental answer (:func:`~synapticnet.task_inference.predict`)."""
        return task_inference.predict(self, x, scorer)

    def task_view(self, task_id: int) -> TaskView:
        """A module computing ``self(x, task_id)`` — for ``torchinfo.summary`` and friends."""
        return TaskView(self, task_id)


class TaskView(nn.Module):
    """The network as one task sees it, ``TaskView(model, t)(x) == model(x, task_id=t)``: for ``torchinfo.summary``."""

    def __init__(self, model: MultiTaskConvSynapticNet, task_id: int) -> None:
        super().__init__()
        self.model, self.task_id = model, model.check_task_id(task_id)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, task_id=self.task_id)


@contextlib.contextmanager
def _change(net: MultiTaskConvSynapticNet) -> Iterator[None]:
    """All or nothing (:func:`synapticnet.transactions.all_or_nothing`), without the warning torch gives for a
    block of zero units ("Initializing zero-element tensors is a no-op"): zero growth is allowed in reuse mode."""
    with all_or_nothing(net), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        yield


def stale_optimiser_watch(model: MultiTaskConvSynapticNet, task: int, last: tuple | None) -> tuple:
    """Call after every masked step: warns (once per task) when ``task``'s head did not change between two
    steps although it had a gradient — an optimiser built before ``grow()`` does not hold the new task's
    parameters. ``last`` is what the previous call returned. Reads autograd's version counter of the head,
    so that it costs no device synchronisation per step."""
    head, warned = model.heads[task].weight, set() if last is None else last[3]
    if last is not None and last[0] is head and last[1] == head._version and task not in warned and bool(last[2]):
        warned = warned | {task}
        warnings.warn(f"task {task}'s parameters did not change between two masked steps although they had a "
                      f"gradient: does your optimiser hold them? Build it after grow(), from "
                      f"model.task_parameters({task})", stacklevel=3)
    return head, head._version, head.grad is not None and head.grad.any(), warned
