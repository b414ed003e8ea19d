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
5. Without the task id: every task answers at once (:meth:`all_outputs`) and ``model.predict(x)``
   picks the one the image looks most at home with (:mod:`synapticnet.task_inference`).

What reading old units costs. A new task's dense layer reads every older task's features: with
``pooled_size=None`` the *flattened* maps (channels × 4 × 4 here), 16 × 128 weights per new neuron
for 128 old channels — most of what reuse costs. ``pooled_size=1`` (global average pooling, as in
ResNets) is 16× cheaper; the separate-network references use the same pooling.

Without convolutions (``conv_channels=()``) it is a task-gated MLP: the flattened image is the shared
input of the first TaskLinear (784 pixels for 1×28×28 Permuted MNIST), and everything above still holds.

This file holds only the network (it imports PyTorch and ``layers.py``; pasted into a notebook after it, it
runs as it is). ``synapticnet.MultiTaskConvSynapticNet`` is this class plus what a first reading may skip
(:mod:`synapticnet.guarded`): one-line errors for wrong arguments, all-or-nothing changes, save/load, predict.
"""

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

try:  # inside the package; in a notebook, the cell holding layers.py has defined these names already
    from .layers import BlockBatchNorm, TaskConv2d, TaskLinear, UnitBlock, cat_parts
except ImportError:
    pass

Growth = int | Sequence[int] | None  # new units: one int for every layer, one per layer, None: half of task 0's


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
        whiten: (isolate mode) every task's column starts with a fixed whitening of the image, estimated from
            its own images (:func:`synapticnet.whitening.whiten_task`); the first conv layer reads that.
    """

    def __init__(self, in_channels: int = 3, conv_channels: Sequence[int] = (32, 64, 128),
                 hidden: Sequence[int] = (256,), num_classes: int = 10, image_size: int = 32, dropout: float = 0.3,
                 mode: str = "reuse", kernel_size: int = 3, pooled_size: int | None = None,
                 dense_mode: str | None = None, pool_after: Sequence[int] | None = None,
                 batch_norm: bool = True, pick: bool = False, whiten: bool = False) -> None:
        super().__init__()
        conv_channels, hidden = list(conv_channels), list(hidden)
        pools = sorted(set(range(len(conv_channels)) if pool_after is None else pool_after))
        self.pools = frozenset(pools)  # the conv layers a 2×2 max-pool follows
        self.spatial = image_size // 2 ** len(pools)  # side of the last feature map
        self.config = dict(in_channels=in_channels, conv_channels=conv_channels, hidden=hidden,
                           num_classes=num_classes, image_size=image_size, dropout=float(dropout), mode=mode,
                           kernel_size=kernel_size, pooled_size=pooled_size, dense_mode=dense_mode,
                           pool_after=None if pool_after is None else pools, batch_norm=batch_norm)
        # Options stored only when set: checkpoints written before they existed still load as they are.
        self.config.update({key: True for key, on in (("pick", pick), ("whiten", whiten)) if on})
        # whiten: per task, 2×2 filters decorrelating the image's 2×2 patches, each as +v and −v so the ReLU keeps
        # both signs; never trained. Padding 1 gives 33×33 maps, which the first 2×2 max-pool takes to 16×16.
        whitened = 8 * in_channels  # 2·C·2·2 filters: every direction of a C-channel 2×2 patch, ±
        self.whitening = TaskConv2d(in_channels, whitened, 2, padding=1, batch_norm=False, mode="isolate",
                                    shared_input=True) if whiten else None
        self._grow_whitening(first=True)
        self.growth: list[dict[str, Any]] = []  # the grow() / widen() / compact() calls, replayed by load()
        # Side of the maps the first dense layer reads: each conv channel gives side² features.
        self.feature_side = self.spatial if pooled_size is None else pooled_size
        widths = [whitened if whiten else in_channels, *conv_channels]
        self.convs = nn.ModuleList(TaskConv2d(i, o, kernel_size, mode=mode, shared_input=not k, batch_norm=batch_norm,
                                              pick=pick)
                                   for k, (i, o) in enumerate(zip(widths, widths[1:])))
        features = [widths[-1] * self.feature_side**2, *hidden]  # without convs: the flattened image
        self.dense = nn.ModuleList(TaskLinear(i, o, mode=self.dense_mode, shared_input=not self.convs and k == 0,
                                              pick=pick and self.dense_mode == "reuse")
                                   for k, (i, o) in enumerate(zip(features, features[1:])))
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList([nn.Linear(features[-1], num_classes)])
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

    def check_task_id(self, task_id: int) -> int:
        """``task_id`` if the model has that task, else a ValueError that says which ids exist."""
        if not 0 <= task_id < self.num_tasks:
            raise ValueError(f"task_id {task_id} does not exist: the model has {self.num_tasks} task(s), "
                             f"ids 0..{self.num_tasks - 1}. Call model.grow() to create a new task.")
        return task_id

    # -- forward: two halves, which features(), shared_features() and all_outputs() combine. Each task's
    # units travel as a separate tensor ("part"): frozen units never enter the backward pass (forward_parts).
    def _conv_features(self, x: Tensor, task_id: int, shared: list[Tensor] | None = None) -> list[Tensor | None]:
        """Conv (+ BN) → ReLU (→ 2×2 max-pool where ``pool_after`` says), layer after layer; then flatten
        (average-pooled first if ``pooled_size``): one feature vector per task ``task_id`` uses (``None``: no
        units there; without conv layers, the flattened image alone). ``shared`` collects task 0's maps after
        every conv layer, averaged over space."""
        parts: list[Tensor | None] = [x]
        if self.whitening is not None:  # the task's own whitened image
            parts = [F.relu(p) for p in self.whitening.forward_parts(parts, task_id)]
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
        return self._head_input(self._conv_features(x, tid), tid)

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        """Logits of task ``task_id`` for images ``x`` of shape (N, C, H, W)."""
        tid = self.check_task_id(task_id)
        return self.heads[tid](self.features(x, tid))

    # -- every task at once, without the task id ------------------------------------------
    def shared_features(self, x: Tensor) -> Tensor:
        """``g(x)``: task 0's conv maps after every conv layer, averaged over space and concatenated (an MLP:
        task 0's activations after every hidden layer). Task 0's units read nothing but the image and are frozen
        once task 1 exists: every task sees the same ``g(x)``."""
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
        shared: list[Tensor] = []
        parts = self._conv_features(x, T - 1, shared)  # every task's filters, one part per task, task 0's first
        features = [self._head_input(parts[: t + 1], t, shared if t == 0 and not self.convs else None)
                    for t in range(T)]
        return torch.cat(shared, dim=1), [(f, self.heads[t](f)) for t, f in enumerate(features)]

    # -- growth ----------------------------------------------------------------------
    def grow(self, num_classes: int, grow_conv_channels: Growth = None, grow_hidden: Growth = None) -> int:
        """NeuronGenesis: add a task. Returns the new task id.

        Every existing parameter is frozen; every conv and hidden layer gets a block of
        new units (``grow_conv_channels`` / ``grow_hidden``: one int for all layers, one
        per layer, or ``None`` for half of task 0's widths); a new head with
        ``num_classes`` outputs is added. Zero growth in a layer is allowed in ``reuse`` mode
        (the new task relies on frozen features there). Old outputs stay bit for bit, as old
        units never read new ones.
        """
        new_task, reference = self.num_tasks, self.heads[0].weight  # new parameters go where the model is
        sizes = self._grow_layers("grow", grow_conv_channels, grow_hidden)
        self._grow_whitening()
        self.heads.requires_grad_(False).zero_grad(set_to_none=True)  # old heads freeze, gradients dropped
        for adapter in self.head_adapters:
            adapter.frozen = True
        reused, own = self._head_inputs(new_task)
        head = nn.Linear(reused + own, num_classes)
        adapter = BlockBatchNorm(reused, affine=False) if reused > 0 else nn.Identity()
        self.heads.append(head.to(reference.device, reference.dtype).train(self.training))
        self.head_adapters.append(adapter.to(reference.device, reference.dtype).train(self.training))
        self.growth.append(dict(op="grow", num_classes=num_classes, **sizes))  # what load() replays
        return new_task

    def widen(self, grow_conv_channels: Growth = None, grow_hidden: Growth = None) -> int:
        """Give the *newest* task more units in every layer (no new task, no new head); return its id.

        For a task harder than its first allocation (the automatic growth trigger). Its function is preserved
        (new connections into existing units start at zero), older tasks are untouched; rebuild the optimiser."""
        task = self.trainable_task
        sizes = self._grow_layers("widen", grow_conv_channels, grow_hidden)
        self._replace_head(task, torch.arange(self.heads[task].in_features))
        self.growth.append(dict(op="widen", task=task, **sizes))
        return task

    def growth_sizes(self, grow_conv_channels: Growth, grow_hidden: Growth) -> tuple[list[int], list[int]]:
        """New units per conv layer and per hidden layer: one int for every layer, one per layer, or ``None``
        for half of task 0's widths."""
        sizes = []
        for value, widths in ((grow_conv_channels, self.config["conv_channels"]), (grow_hidden, self.config["hidden"])):
            sizes.append([max(1, w // 2) for w in widths] if value is None else
                         [value] * len(widths) if isinstance(value, int) else list(value))
        return sizes[0], sizes[1]

    def _grow_layers(self, op: str, grow_conv_channels: Growth, grow_hidden: Growth) -> dict[str, list[int]]:
        """``layer.grow`` or ``layer.widen`` on every layer, each told how many units the previous layer added."""
        conv, hidden = self.growth_sizes(grow_conv_channels, grow_hidden)
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

    def _grow_whitening(self, first: bool = False) -> None:
        """A whitening block for the newest task (whitening.whiten_task sets it): its filters are never trained."""
        if self.whitening is not None:
            if not first:
                self.whitening.grow(self.whitening.blocks[0].out_units)
            self.whitening.blocks[-1].unit.weight.requires_grad_(False)

    # -- compaction ("synaptic pruning") ----------------------------------------------
    def compact(self, conv_channels: Sequence[int], hidden: Sequence[int],
                scores: tuple[Sequence[Tensor], Sequence[Tensor]]) -> int:
        """Synaptic pruning: keep the newest task's most important units; return parameters removed.

        ``conv_channels[i]`` / ``hidden[i]`` units of layer ``i`` stay (0 allowed in reuse mode after task 0):
        the most important, in their original order, by ``scores`` (per conv layer, per dense layer: one score
        per unit of the newest task, higher = kept; :func:`synapticnet.pruning.unit_importance` reads them
        from the weights, and the package's class uses it when no ``scores`` are given).
        Call it after the task is trained and *before* the next ``grow()`` freezes it, then *retrain* the task
        with a rebuilt optimiser (the blocks are new parameters): the pruned network is a new, smaller network
        starting from good weights, and a brief low-rate fine-tune leaves it below its full-width self, while a
        retrain at the full learning rate lets it become a good small one (``profiles.RETRAIN``; ``make front``).
        Older tasks are not touched (bit for bit)."""
        ranked = [torch.as_tensor(s, dtype=torch.float32).cpu().argsort(descending=True, stable=True)
                  for s in [*scores[0], *scores[1]]]  # most important first; a tie keeps the earlier unit
        return self.keep_units([order[:k].sort().values for order, k in zip(ranked, [*conv_channels, *hidden])])

    def keep_units(self, keep: Sequence[Tensor]) -> int:
        """Keep the newest task's units ``keep[i]`` (ascending indices) in task-gated layer ``i``; return the
        parameters removed. The surgery :meth:`compact` does once it knows which units matter."""
        task = self.trainable_task
        sizes, before = [len(kept) for kept in keep], self.num_parameters()
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
        params = [p for m in self._task_modules(tid) for p in m.parameters()]
        return params + list(self.heads[tid].parameters())

    def _task_modules(self, task_id: int) -> list[nn.Module]:
        """What ``task_id`` created in the gated layers: its blocks (its whitening first), its picking views."""
        whitening = [] if self.whitening is None else [self.whitening.blocks[task_id]]
        return whitening + [m for layer in self.task_layers for m in layer.task_modules(task_id)]

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
        used += [] if self.whitening is None else [self.whitening.blocks[tid]]
        return _count(used + [view for layer in self.task_layers if layer.pick for view in layer.picks[tid]])

    def num_mask_bits(self, task_id: int | None = None) -> int:
        """Picking-mask bits stored (one per older weight each task picks from), or those of one task."""
        tasks = range(self.num_tasks) if task_id is None else [self.check_task_id(task_id)]
        return sum(view.num_bits() for layer in self.task_layers if layer.pick for t in tasks for view in layer.picks[t])

    def parameters_per_task(self) -> list[int]:
        """Parameters created by each task (task 0's network, then what each grow() added)."""
        return [_count([self.heads[t], *self._task_modules(t)]) for t in range(self.num_tasks)]


def _count(modules: Sequence[nn.Module]) -> int:
    """Parameters of ``modules``, less picking masks' training scores (what is kept of them is one bit each)."""
    return sum(p.numel() for m in modules for name, p in m.named_parameters() if not name.endswith("scores"))
