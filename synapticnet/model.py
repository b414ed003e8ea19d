"""MultiTaskConvSynapticNet: a CNN that grows a little for every new task and never forgets.

Read this file top to bottom; it is meant to be read in one sitting.

Architecture (for ``conv_channels=(32, 64, 128), hidden=(256,)``)::

    image (N, 3, 32, 32)                    shared by every task
      └─ TaskConv2d 3→32   + BN + ReLU + MaxPool     32×16×16
      └─ TaskConv2d 32→64  + BN + ReLU + MaxPool     64×8×8
      └─ TaskConv2d 64→128 + BN + ReLU + MaxPool     128×4×4
      └─ flatten                                     2048  (pooled_size=1: average → 128)
      └─ TaskLinear 2048→256 + ReLU + Dropout        256
      └─ head[task_id]: Linear 256→num_classes       one output head per task

``pool_after`` picks the conv layers a max-pool follows; the profiles use stages of two convolutions
pooled after the first (``(32, 32, 64, 64, 128, 128)``, ``pool_after=(0, 2, 4)``: :mod:`synapticnet.profiles`).

Continual learning with it:

1. Train task 0 as usual.
2. ``model.grow(num_classes=...)`` ("NeuronGenesis") freezes everything that exists
   and adds, in every layer, a block of new units tagged with the new task id, plus a
   new head. New units read the frozen old features (``mode="reuse"``) or only their
   own (``mode="isolate"``); old units never read new ones, so old outputs cannot change.
3. Train the new task with an optimiser built *after* ``grow()`` from ``model.task_parameters(t)``;
   ``apply_task_gradient_mask(t)`` after ``backward()`` keeps gradients on that task only.
   Why freezing is exact: :mod:`synapticnet.layers`.
4. Optionally, before the next ``grow()``: ``model.compact(...)`` ("synaptic pruning")
   keeps only the newest task's most important units (:mod:`synapticnet.pruning` says
   which), so the next tasks pay less to read them.
5. Without the task id: ``model.predict(x)`` asks every task (:meth:`all_outputs`) and
   picks the one the image looks most at home with (:mod:`synapticnet.task_inference`).

What reading old units costs. A new task's dense layer reads every older task's features: with
``pooled_size=None`` the *flattened* maps (channels × 4 × 4 here), 16 × 128 weights per new neuron
for 128 old channels — most of what reuse costs. ``pooled_size=1`` (global average pooling, as in
ResNets) is 16× cheaper; the separate-network references use the same pooling.

Without convolutions (``conv_channels=()``) it is a task-gated MLP: the flattened image is the shared
input of the first TaskLinear (784 pixels for 1×28×28 Permuted MNIST), and everything above still holds.

What this file leaves to others, so that it holds only the network: checkpoints and the checks on what
they describe (:mod:`synapticnet.checkpoint`), undoing a change that fails half-way
(:mod:`synapticnet.transactions`), which units to keep (:mod:`synapticnet.pruning`) and task inference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_count, check_flag, check_images, check_size, network_config, per_layer  # one clear error each
from .layers import BlockBatchNorm, TaskConv2d, TaskLinear, UnitBlock, cat_parts


class TaskView(nn.Module):
    """The network as one task sees it, ``TaskView(model, t)(x) == model(x, task_id=t)``: for ``torchinfo.summary``."""

    def __init__(self, model: "MultiTaskConvSynapticNet", task_id: int) -> None:
        super().__init__()
        self.model, self.task_id = model, model.check_task_id(task_id)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, task_id=self.task_id)


class MultiTaskConvSynapticNet(nn.Module):
    """A task-gated CNN (or MLP) with one output head per task that grows for new tasks.

    Args:
        in_channels: image channels (3 for the harmonised four-task stream).
        conv_channels: filters of task 0 in each conv layer; each layer is followed by
            BatchNorm (per task), ReLU and 2×2 max-pooling. May be empty: an MLP whose first
            dense layer reads the flattened image (shared by every task, like a first conv's).
        hidden: neurons of task 0 in each hidden dense layer (may be empty, but not together
            with ``conv_channels``).
        num_classes: classes of task 0.
        image_size: height = width of the input images; must be divisible by
            ``2 ** (number of pooling layers)``.
        dropout: dropout probability after each hidden dense layer.
        mode: ``"reuse"`` (default: a new task also reads all frozen old features) or
            ``"isolate"`` (a new task uses only the units it created).
        kernel_size: convolution kernel size.
        pooled_size: side of the feature maps the dense layers read: ``None`` flattens
            the whole last map, ``1`` is global average pooling, ``2`` a 2×2 average, …
        dense_mode: connectivity of the dense layers (default: ``mode``). ``mode="reuse",
            dense_mode="isolate"`` reuses old *filters* only: a new task's conv units read every
            frozen older channel, but its dense layers and head read only its own units — reuse
            where features transfer, without paying for dense connections to old flattened maps.
        pool_after: indices of the conv layers followed by a 2×2 max-pool (default ``None``: every
            conv layer).
        batch_norm: per-task BatchNorm after every convolution (default); ``False``: plain
            convolutions with a bias, as in the original design's notebook.
        pick: (reuse mode) every new task reads the older units through its own binary mask over their
            frozen weights (:class:`~synapticnet.layers.PickedView`): conv layers, and dense layers where
            they reuse. Masks cost one bit per old weight per task (:meth:`num_mask_bits`).
    """

    def __init__(self, in_channels: int = 3, conv_channels: Sequence[int] = (32, 64, 128),
                 hidden: Sequence[int] = (256,), num_classes: int = 10, image_size: int = 32, dropout: float = 0.3,
                 mode: str = "reuse", kernel_size: int = 3, pooled_size: int | None = None,
                 dense_mode: str | None = None, pool_after: Sequence[int] | None = None,
                 batch_norm: bool = True, pick: bool = False) -> None:
        super().__init__()
        self.config, pools, self.spatial = network_config(in_channels, conv_channels, hidden, num_classes, image_size,
                                                          dropout, mode, kernel_size, pooled_size, dense_mode, pool_after)
        self.pools = frozenset(pools)  # the conv layers a 2×2 max-pool follows; self.spatial: side after the last
        conv_channels, hidden = self.config["conv_channels"], self.config["hidden"]
        self.config["batch_norm"] = check_flag(batch_norm, "batch_norm")
        if pick:  # stored only when set: checkpoints written before the option still load as they are
            self.config["pick"] = True
        self.growth: list[dict[str, Any]] = []  # the grow() / widen() / compact() calls, replayed by load()
        # Side of the maps the first dense layer reads: each conv channel gives side² features.
        self.feature_side = self.spatial if pooled_size is None else self.config["pooled_size"]
        widths = [self.config["in_channels"], *conv_channels]
        self.convs = nn.ModuleList(TaskConv2d(i, o, kernel_size, mode=mode, shared_input=not k, batch_norm=batch_norm,
                                              pick=pick)
                                   for k, (i, o) in enumerate(zip(widths, widths[1:])))
        features = [widths[-1] * self.feature_side**2, *hidden]  # without convs: the flattened image
        self.dense = nn.ModuleList(TaskLinear(i, o, mode=self.dense_mode, shared_input=not self.convs and k == 0,
                                              pick=pick and self.dense_mode == "reuse")
                                   for k, (i, o) in enumerate(zip(features, features[1:])))
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList([nn.Linear(features[-1], self.config["num_classes"])])
        # Per task, an affine-free BatchNorm over the reused old features its head reads (see UnitBlock.adapter).
        self.head_adapters = nn.ModuleList([nn.Identity()])

    # -- tasks -----------------------------------------------------------------------
    @property
    def dense_mode(self) -> str:
        """Connectivity of the dense layers and head: ``dense_mode`` if given, else ``mode``."""
        return self.config.get("dense_mode") or self.config["mode"]

    @property
    def num_tasks(self) -> int:
        """Number of tasks (= heads) the network has."""
        return len(self.heads)

    @property
    def trainable_task(self) -> int:
        """The newest task: the only one whose parameters can still learn."""
        return self.num_tasks - 1

    @property
    def task_layers(self) -> list[TaskConv2d | TaskLinear]:
        """All task-gated layers in forward order."""
        return [*self.convs, *self.dense]

    def task_blocks(self, task_id: int) -> tuple[list[UnitBlock], list[UnitBlock]]:
        """The blocks ``task_id`` created: ``(one per conv layer, one per dense layer)``."""
        tid = self.check_task_id(task_id)
        return [conv.blocks[tid] for conv in self.convs], [layer.blocks[tid] for layer in self.dense]

    def num_classes(self, task_id: int) -> int:
        """Classes of ``task_id``'s head."""
        return self.heads[self.check_task_id(task_id)].out_features

    def check_task_id(self, task_id: object) -> int:
        """Return ``task_id`` as an int, or raise a ValueError that says which ids exist."""
        tid = check_count(task_id, "task_id")
        if tid >= self.num_tasks:
            raise ValueError(f"task_id {tid} does not exist: the model has {self.num_tasks} task(s), "
                             f"ids 0..{self.num_tasks - 1}. Call model.grow() to create a new task.")
        return tid

    # -- forward: two halves, which features(), shared_features() and all_outputs() combine. Each task's
    # units travel as a separate tensor ("part"): frozen units never enter the backward pass (forward_parts).
    def _conv_features(self, x: Tensor, task_id: int, shared: list[Tensor] | None = None) -> list[Tensor | None]:
        """Conv (+ BN) → ReLU (→ 2×2 max-pool where ``pool_after`` says), layer after layer; then flatten
        (average-pooled first if ``pooled_size``): one feature vector per task ``task_id`` uses (``None``: no
        units there; without conv layers, the flattened image alone). ``shared`` collects task 0's maps after
        every conv layer, averaged over space."""
        parts: list[Tensor | None] = [x]
        for i, conv in enumerate(self.convs):
            pool = i in self.pools
            parts = [None if p is None else F.max_pool2d(F.relu(p), 2) if pool else F.relu(p)
                     for p in conv.forward_parts(parts, task_id)]
            if shared is not None:
                shared.append(parts[0].mean(dim=(2, 3)))
        if self.config["pooled_size"] is not None:
            parts = [None if p is None else F.adaptive_avg_pool2d(p, self.config["pooled_size"]) for p in parts]
        return [None if p is None else torch.flatten(p, 1) for p in parts]

    def _head_input(self, parts: list[Tensor | None], task_id: int, shared: list[Tensor] | None = None) -> Tensor:
        """Dense layers → what ``task_id``'s head reads: reused old features (re-normalised for it), its own.
        ``shared`` (task 0 only) collects task 0's activations after every dense layer."""
        if self.dense_mode == "isolate" and self.dense:
            parts = parts[-1:]  # the dense layers read this task's own conv features only
        for layer in self.dense:
            parts = [None if p is None else self.dropout(F.relu(p)) for p in layer.forward_parts(parts, task_id)]
            if shared is not None:
                shared.append(parts[0])
        old = [p for p in parts[:-1] if p is not None]
        if not old:  # task 0, or isolate mode
            return parts[-1]
        old_features = self.head_adapters[task_id](cat_parts(old))
        return old_features if parts[-1] is None else torch.cat([old_features, parts[-1]], dim=1)

    def features(self, x: Tensor, task_id: int) -> Tensor:
        """The penultimate features that ``task_id``'s head reads."""
        tid = self.check_task_id(task_id)
        self._check_images(x)
        return self._head_input(self._conv_features(x, tid), tid)

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        """Logits of task ``task_id`` for images ``x`` of shape (N, C, H, W)."""
        tid = self.check_task_id(task_id)
        logits = self.heads[tid](self.features(x, tid))
        if self.training and torch.is_grad_enabled() and not logits.requires_grad:
            # A frozen task in train mode: the forward pass is fine (its statistics stay frozen),
            # but a backward pass through it would fail deep inside autograd. Say why instead.
            message = (f"task {tid} is frozen: only the newest task ({self.trainable_task}) can be trained; old tasks "
                       "are kept exactly as they were learned. To evaluate an old task use model.eval() or torch.no_grad()")
            from .transactions import FrozenTask
            logits = FrozenTask.apply(logits, torch.zeros((), device=logits.device, requires_grad=True), message)
        return logits

    def _check_images(self, x: Tensor) -> None:
        check_images(x, self.config["in_channels"], self.config["image_size"], self.heads[0].weight.dtype)

    # -- every task at once, without the task id ------------------------------------------
    def shared_features(self, x: Tensor) -> Tensor:
        """``g(x)``: task 0's conv maps after every conv layer, averaged over space and concatenated (an MLP:
        task 0's activations after every hidden layer). Task 0's units read nothing but the image and are frozen
        once task 1 exists: every task sees the same ``g(x)``."""
        self._check_images(x)
        shared: list[Tensor] = []
        parts = self._conv_features(x, 0, shared)
        if not self.convs:
            self._head_input(parts, 0, shared)
        return torch.cat(shared, dim=1)

    def all_outputs(self, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """``(shared_features(x), [(features(x, t), logits of task t) for every task t])``, computed together.

        Asking every task costs ``T`` forward passes instead of one — but in ``reuse`` mode the newest
        task's conv pass computes every older task's filters too (old units never read new ones, so
        they compute the same whoever asks): only the dense layers and heads run once per task."""
        T = self.num_tasks
        if self.config["mode"] != "reuse" or self.config.get("pick"):  # own columns or own masks: nothing shared
            return self.shared_features(x), [(f, self.heads[t](f)) for t in range(T) for f in (self.features(x, t),)]
        self._check_images(x)
        shared: list[Tensor] = []
        parts = self._conv_features(x, T - 1, shared)  # every task's filters, one part per task, task 0's first
        features = [self._head_input(parts[: t + 1], t, shared if t == 0 and not self.convs else None)
                    for t in range(T)]
        return torch.cat(shared, dim=1), [(f, self.heads[t](f)) for t, f in enumerate(features)]

    def infer_task(self, x: Tensor, scorer: str = "shared_gaussian") -> Tensor:
        """The task (LongTensor (N,)) every image most likely belongs to (:func:`synapticnet.task_inference.infer_task`)."""
        from .task_inference import infer_task
        return infer_task(self, x, scorer)

    def predict(self, x: Tensor, scorer: str = "shared_gaussian") -> tuple[Tensor, Tensor]:
        """``(task ids, class labels within the task)``: the class-incremental answer (:func:`~synapticnet.task_inference.predict`)."""
        from .task_inference import predict
        return predict(self, x, scorer)

    # -- growth ----------------------------------------------------------------------
    def grow(self, num_classes: int, grow_conv_channels: int | Sequence[int] | None = None,
             grow_hidden: int | Sequence[int] | None = None) -> int:
        """NeuronGenesis: add a task. Returns the new task id.

        Every existing parameter is frozen; every conv and hidden layer gets a block of
        new units (``grow_conv_channels`` / ``grow_hidden``: one int for all layers, one
        per layer, or ``None`` for half of task 0's widths); a new head with
        ``num_classes`` outputs is added. Zero growth in a layer is allowed in ``reuse`` mode
        (the new task relies on frozen features there). Old outputs stay bit for bit, as old
        units never read new ones. A rejected call, or one failing half-way, changes nothing.
        """
        num_classes = check_count(num_classes, "num_classes", 1)
        new_task, reference = self.num_tasks, self.heads[0].weight  # new parameters go where the model is
        with _all_or_nothing(self):
            sizes = self._grow_layers("grow", grow_conv_channels, grow_hidden, num_classes)
            self.heads.requires_grad_(False).zero_grad(set_to_none=True)  # old heads freeze, gradients dropped
            for adapter in self.head_adapters:
                adapter.frozen = True
            reused, own = self._head_inputs(new_task)
            head = nn.Linear(reused + own, num_classes)
            adapter = BlockBatchNorm(reused, affine=False) if reused > 0 else nn.Identity()
            self.heads.append(head.to(reference.device, reference.dtype).train(self.training))
            self.head_adapters.append(adapter.to(reference.device, reference.dtype).train(self.training))
            self.growth.append(dict(op="grow", num_classes=num_classes, **sizes))
        return new_task

    def widen(self, grow_conv_channels: int | Sequence[int] | None = None,
              grow_hidden: int | Sequence[int] | None = None) -> int:
        """Give the *newest* task more units in every layer (no new task, no new head); return its id.

        For a task harder than its first allocation (the automatic growth trigger). Its function is preserved
        (new connections into existing units start at zero), older tasks are untouched; rebuild the optimiser."""
        task = self.trainable_task
        with _all_or_nothing(self):
            sizes = self._grow_layers("widen", grow_conv_channels, grow_hidden)
            self._replace_head(task, torch.arange(self.heads[task].in_features))
            self.growth.append(dict(op="widen", task=task, **sizes))
        return task

    def _grow_layers(self, op: str, grow_conv_channels: int | Sequence[int] | None,
                     grow_hidden: int | Sequence[int] | None, num_classes: int = 0) -> dict[str, list[int]]:
        """``layer.grow`` or ``layer.widen`` on every layer, each told how many units the previous layer added."""
        conv = per_layer(grow_conv_channels, self.config["conv_channels"], "grow_conv_channels")
        hidden = per_layer(grow_hidden, self.config["hidden"], "grow_hidden")
        check_size(self, op, conv, hidden, num_classes)  # the size bound loading has too, before any allocation
        previous = 0
        for i, (layer, g) in enumerate(zip(self.task_layers, conv + hidden)):
            if i == len(self.convs):
                previous *= self.feature_side**2  # flattened features contributed by the new filters
            getattr(layer, op)(g, previous)
            previous = g
        return dict(grow_conv_channels=conv, grow_hidden=hidden)

    def _head_inputs(self, task_id: int) -> tuple[int, int]:
        """``(reused older features, own features)`` that ``task_id``'s head reads."""
        last, side2 = (self.dense[-1], 1) if self.dense else (self.convs[-1], self.feature_side**2)
        own = last.blocks[task_id].out_units * side2
        return last.out_units_for(task_id) * side2 - own, own

    def _replace_head(self, task: int, columns: Tensor) -> None:
        """A new head for ``task``, on its current inputs: the old head's weights of ``columns``, then zeros."""
        old = self.heads[task]
        head = nn.Linear(sum(self._head_inputs(task)), old.out_features).to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            head.weight.zero_()
            head.weight[:, : len(columns)] = old.weight[:, columns.to(old.weight.device)]
            head.bias.copy_(old.bias)
        self.heads[task] = head

    # -- compaction ("synaptic pruning") ----------------------------------------------
    def compact(self, conv_channels: Sequence[int], hidden: Sequence[int] = (),
                scores: tuple[Sequence[Tensor], Sequence[Tensor]] | None = None) -> int:
        """Synaptic pruning: keep the newest task's most important units; return parameters removed.

        ``conv_channels[i]`` / ``hidden[i]`` units of layer ``i`` stay (0 allowed in reuse mode after task 0):
        the most important, in their original order, by :func:`synapticnet.pruning.unit_importance` or by
        ``scores`` (per conv layer, per dense layer: one score per unit of the newest task, higher = kept).
        Call it after the task is trained and *before* the next ``grow()`` freezes it, then *retrain* the task
        with a rebuilt optimiser (the blocks are new parameters): the pruned network is a new, smaller network
        starting from good weights, and a brief low-rate fine-tune leaves it below its full-width self, while a
        retrain at the full learning rate lets it become a good small one (``profiles.RETRAIN``; ``make front``).
        Older tasks are not touched (bit for bit); a rejected call leaves the model as it was."""
        from .pruning import units_to_keep  # which units matter is pruning's question; the surgery is ours
        return self.keep_units(units_to_keep(self, conv_channels, hidden, scores))  # checks every argument first

    def keep_units(self, keep: Sequence[Tensor]) -> int:
        """Keep the newest task's units ``keep[i]`` (ascending indices) in task-gated layer ``i``; return the
        parameters removed. The surgery :meth:`compact` does once it knows which units matter."""
        task = self.trainable_task
        sizes, before = [len(kept) for kept in keep], self.num_parameters()
        with _all_or_nothing(self):
            previous = None
            for layer, kept in zip(self.convs, keep):
                layer.compact(kept, previous)
                previous = kept
            if previous is not None:  # channel c of the last conv gives features c*side² … c*side²+side²-1
                side2 = self.feature_side**2
                previous = (previous[:, None] * side2 + torch.arange(side2, device=previous.device)).flatten()
            for layer, kept in zip(self.dense, keep[len(self.convs):]):
                layer.compact(kept, previous)
                previous = kept
            reused = self._head_inputs(task)[0]  # the older tasks' features: unchanged
            self._replace_head(task, torch.cat([torch.arange(reused, device=previous.device), reused + previous]))
            self.growth.append(dict(op="compact", task=task, conv_channels=sizes[: len(self.convs)],
                                    hidden=sizes[len(self.convs):]))
        return before - self.num_parameters()

    # -- gradient masking ------------------------------------------------------------
    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        """Parameters created by ``task_id`` (its blocks in every layer and its head)."""
        tid = self.check_task_id(task_id)
        params = [p for layer in self.task_layers for m in layer.task_modules(tid) for p in m.parameters()]
        return params + list(self.heads[tid].parameters())

    def apply_task_gradient_mask(self, task_id: int) -> None:
        """Drop the gradient of every parameter that does not belong to ``task_id``.

        Call it after ``loss.backward()`` and before ``optimizer.step()``. Setting ``grad`` to
        ``None`` (not zero) matters: optimisers skip parameters without a gradient entirely, so
        weight decay and momentum cannot move them. Frozen parameters never get a gradient
        anyway; this is the belt to those braces."""
        if (tid := self.check_task_id(task_id)) != self.trainable_task:
            raise ValueError(f"task {tid} is frozen; only the newest task ({self.trainable_task}) can be trained. "
                             "Old tasks are kept exactly as they were learned.")
        own = {id(p) for p in self.task_parameters(tid)}
        for p in self.parameters():
            if id(p) not in own:
                p.grad = None

    # -- parameter accounting --------------------------------------------------------
    def num_parameters(self, task_id: int | None = None) -> int:
        """Total parameters, or (with ``task_id``) those that task's forward uses. Buffers (BatchNorm
        running statistics, ``task_ids``) are not parameters and are not counted; neither are a picking
        mask's training scores, which become one bit per weight (:meth:`num_mask_bits`)."""
        if task_id is None:
            return _count([self])
        tid = self.check_task_id(task_id)
        used = [self.heads[tid]] + [layer.blocks[k] for layer in self.task_layers for k in layer.active_tasks(tid)]
        return _count(used + [view for layer in self.task_layers if layer.pick for view in layer.picks[tid]])

    def num_mask_bits(self, task_id: int | None = None) -> int:
        """Picking-mask bits stored (one per older weight each task picks from), or those of one task."""
        tasks = range(self.num_tasks) if task_id is None else [self.check_task_id(task_id)]
        return sum(view.num_bits() for layer in self.task_layers if layer.pick for t in tasks for view in layer.picks[t])

    def parameters_per_task(self) -> list[int]:
        """Parameters created by each task (task 0's network, then what each grow() added)."""
        return [_count([self.heads[t], *(m for layer in self.task_layers for m in layer.task_modules(t))])
                for t in range(self.num_tasks)]

    def task_view(self, task_id: int) -> TaskView:
        """A module computing ``self(x, task_id)`` — for ``torchinfo.summary`` and friends."""
        return TaskView(self, task_id)

    # -- checkpoints: the format and the checks on what a file describes live in synapticnet.checkpoint ------
    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the model: config, growth history and weights."""
        from .checkpoint import checkpoint
        return checkpoint(self)

    def save(self, path: str | os.PathLike) -> None:
        """Save atomically (a temporary file next to ``path``, then renamed): never a half-written checkpoint."""
        from .checkpoint import save
        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> "MultiTaskConvSynapticNet":
        """Load what was trained: a file written by :meth:`save`, a run's ``checkpoint.pt`` or a run folder
        (:func:`synapticnet.checkpoint.load`). Every task comes back as trained, task inference included."""
        from .checkpoint import load
        return load(path, map_location, cls)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], source: str = "checkpoint") -> "MultiTaskConvSynapticNet":
        """Rebuild a model from :meth:`checkpoint` (or a run's checkpoint); nothing in it is trusted
        (:func:`synapticnet.checkpoint.from_checkpoint`)."""
        from .checkpoint import from_checkpoint
        return from_checkpoint(checkpoint, source, cls)


def _count(modules: Sequence[nn.Module]) -> int:
    """Parameters of ``modules``, less picking masks' training scores (what is kept of them is one bit each)."""
    return sum(p.numel() for m in modules for name, p in m.named_parameters() if not name.endswith("scores"))


def _all_or_nothing(model: nn.Module):
    """A context in which ``model`` changes completely or not at all (:func:`synapticnet.transactions.all_or_nothing`)."""
    from .transactions import all_or_nothing
    return all_or_nothing(model)
