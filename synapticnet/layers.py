"""Task-gated layers: every output unit belongs to the task that created it.

The idea in one picture. A layer that has learned three tasks stores one *block* of
weights per task::

                 inputs of task 0 | task 1 | task 2
    units of task 0  [ W0          ]                       <- frozen
    units of task 1  [ W1                   ]              <- frozen
    units of task 2  [ W2                            ]     <- trainable

Block ``k`` computes the units created by task ``k``. In the default ``"reuse"`` mode it
reads the input units of every task ``<= k`` (old features are reused, but frozen); in
``"isolate"`` mode it reads only the input units of task ``k`` (a separate column per
task, as in Progressive Nets without lateral connections). No block ever reads units
of a *later* task, so whatever is added later cannot change what an earlier task sees.

Why one ``nn.Parameter`` per block rather than one big weight matrix and a mask?

* **Exact zero forgetting with any optimiser.** PyTorch optimisers skip every
  parameter whose ``.grad`` is ``None``: no weight decay, no momentum, no Adam
  moments are applied to it. A frozen block is therefore a separate parameter with
  ``requires_grad=False`` and ``grad=None``. With one big matrix, zeroing the old rows
  of the gradient is *not* enough: ``weight_decay`` and momentum still move them.
* **Old tasks cost what they used to.** Evaluating task ``k`` runs blocks ``0..k``
  only; later blocks are never computed (no compute-everything-then-mask).
* **No wasted backward passes.** Frozen blocks take no gradient and, when their input
  takes none either, autograd does not even record them.

Normalisation is per block, too: the batch-norm statistics and affine parameters of
task ``k``'s units are estimated on task ``k``'s data and then frozen with the rest of
the block. A shared BatchNorm would keep updating its running statistics on new
tasks' data — a silent source of forgetting even when every weight is frozen.

**Picking masks** (``pick=True``, reuse mode). Reading old units as they are gives a new task
the old task's features, nothing more. With picking, task ``t`` reads each older block through
its own binary mask over that block's frozen weights (:class:`PickedView`): the same weights,
a different subset per task, so reuse yields *new* features at the price of one bit per old
weight instead of new weights. Old tasks never run through a later task's masks.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Mode = Literal["reuse", "isolate"]


class BlockBatchNorm(nn.BatchNorm2d):
    """BatchNorm for one task's units that stops learning for good once frozen.

    While the block is trainable it behaves exactly like :class:`torch.nn.BatchNorm2d`
    (it also accepts ``(N, C)`` feature vectors, like ``BatchNorm1d``; a batch holding a
    single value per channel is normalised with the running statistics). Once frozen it
    always normalises with its stored running statistics — even when the surrounding
    network is in ``train()`` mode for a later task — so the statistics of an old
    task are never overwritten by a new task's data.
    """

    frozen: bool = False

    def forward(self, x: Tensor) -> Tensor:
        # One value per channel (a training batch of one feature vector) has no variance to
        # estimate: normalise it with the running statistics instead of failing.
        use_batch_stats = self.training and not self.frozen and x.numel() > x.shape[1]
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=self.momentum, eps=self.eps)


def freeze_for_good(module: "UnitBlock | PickedView") -> None:
    """What a task owns stops learning: its BatchNorms keep their statistics, its parameters take no gradient."""
    module.frozen = True
    for bn in (module.norm, module.adapter):
        if bn is not None:
            bn.frozen = True
    for p in module.parameters():
        p.requires_grad_(False)
        p.grad = None


class UnitBlock(nn.Module):
    """The units (filters or neurons) that one task added to a layer.

    ``unit`` is an ordinary :class:`~torch.nn.Conv2d` or :class:`~torch.nn.Linear`
    (so initialisation, ``torchinfo`` and intuition all work as usual), optionally
    followed by the task's own :class:`BlockBatchNorm`.

    ``adapter`` (reuse mode, tasks after the first) re-normalises the *reused* input
    units of older tasks with statistics of this task's data: a BatchNorm without
    learnable parameters. Frozen features tuned on MNIST respond at a very different
    scale to CIFAR images; without the adapter the new units would see wildly scaled
    inputs. Having no parameters, it keeps the old units out of the backward pass.
    """

    def __init__(self, unit: nn.Conv2d | nn.Linear, norm: BlockBatchNorm | None = None,
                 adapter: BlockBatchNorm | None = None) -> None:
        super().__init__()
        self.unit, self.norm, self.adapter, self.frozen = unit, norm, adapter, False

    @property
    def out_units(self) -> int:
        return self.unit.weight.shape[0]

    def freeze(self) -> None:
        """Freeze the block for good: no gradients, no statistics updates."""
        freeze_for_good(self)

    def forward(self, x: Tensor, old: Tensor | None = None) -> Tensor:
        """``x``: this task's own input units; ``old``: reused units of older tasks (or None)."""
        if old is not None:
            x = torch.cat([self.adapter(old), x], dim=1) if x is not None else self.adapter(old)
        y = self.unit(x)
        return y if self.norm is None else self.norm(y)


def pack_bits(mask: Tensor) -> Tensor:
    """A boolean tensor as ``uint8`` bytes, eight entries a byte (``numpy.packbits``' little-endian order)."""
    flat = mask.flatten().to(torch.uint8)
    flat = torch.cat([flat, flat.new_zeros(-len(flat) % 8)]).view(-1, 8)
    return (flat << torch.arange(8, dtype=torch.uint8, device=flat.device)).sum(1, dtype=torch.uint8)


def unpack_bits(packed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The boolean tensor of ``shape`` that :func:`pack_bits` packed."""
    bits = (packed[:, None] >> torch.arange(8, dtype=torch.uint8, device=packed.device)) & 1
    return bits.flatten()[: torch.Size(shape).numel()].view(shape).bool()


class PickedView(nn.Module):
    """Task ``t``'s own view of one frozen older block: the subset of its weights that task ``t`` picked.

    A picking mask (Piggyback, Mallya et al. 2018; SupSup, Wortsman et al. 2020; WSN, Kang et al.
    2022) lets task ``t`` choose, weight by weight, which of the frozen old weights it uses: its
    view of old unit ``u`` computes ``(W_u ⊙ M_t,u) · x``, a *new* feature built from old weights.

    While task ``t`` trains, the mask comes from real-valued ``scores`` (one per old weight,
    ``M = scores > 0``); the step function has no useful gradient, so the backward pass treats
    it as the identity (the straight-through estimator): ``∂L/∂score = ∂L/∂(W ⊙ M) · W``.
    The old weights themselves stay frozen and out of the optimiser; the old task never runs
    through this view, so its outputs cannot change. When a later task arrives, :meth:`freeze`
    keeps only the bits (``pack_bits``) and drops the scores.

    The view has its own BatchNorm for the old units (a masked unit responds at its own scale)
    and, where the old block re-normalises reused inputs, its own parameter-free ``adapter``.
    """

    def __init__(self, block: UnitBlock, init: float = 0.01) -> None:
        super().__init__()
        shape = block.unit.weight.shape
        self.shape = tuple(shape)
        self.scores: nn.Parameter | None = nn.Parameter(torch.full(shape, float(init)))
        self.register_buffer("bits", torch.zeros(0, dtype=torch.uint8))
        self.norm = BlockBatchNorm(shape[0]) if block.norm is not None else None
        self.adapter = (BlockBatchNorm(block.adapter.num_features, affine=False)
                        if block.adapter is not None else None)
        self.frozen = False

    def mask(self) -> Tensor:
        """The binary mask (as 0/1 floats); while training, with the straight-through gradient to ``scores``."""
        if self.scores is None:
            return unpack_bits(self.bits, self.shape).float()
        hard = (self.scores > 0).float()
        return hard + (self.scores - self.scores.detach())  # exactly `hard`; the gradient flows to the scores

    def num_bits(self) -> int:
        """Mask bits this view stores: one per old weight."""
        return int(torch.Size(self.shape).numel())

    def freeze(self) -> None:
        """Keep the bits, drop the scores; stop learning for good."""
        if self.scores is not None:
            self.bits = pack_bits(self.scores.detach() > 0)
            self.scores = None
        freeze_for_good(self)

    def forward(self, block: UnitBlock, x: Tensor | None, old: Tensor | None = None) -> Tensor:
        """``block``'s computation with this task's picked weights (and its own normalisation)."""
        if old is not None:
            x = torch.cat([self.adapter(old), x], dim=1) if x is not None else self.adapter(old)
        unit = block.unit
        weight = unit.weight * self.mask().to(unit.weight.dtype)
        if isinstance(unit, nn.Conv2d):
            y = F.conv2d(x, weight, unit.bias, unit.stride, unit.padding)
        else:
            y = F.linear(x, weight, unit.bias)
        return y if self.norm is None else self.norm(y)


@torch.no_grad()
def _transplant(new: UnitBlock, old: UnitBlock, rows: Tensor | slice = slice(None),
                columns: Tensor | slice = slice(None)) -> None:
    """Copy ``old``'s units ``rows`` reading its inputs ``columns`` (weights, bias, BatchNorm parameters and
    statistics) into the first units and inputs of ``new``; connections from any further inputs start at zero."""
    weight = old.unit.weight[rows][:, columns]
    n, m = weight.shape[:2]
    new.unit.weight[:n, :m] = weight
    new.unit.weight[:n, m:] = 0.0
    if old.unit.bias is not None:
        new.unit.bias[:n] = old.unit.bias[rows]
    if old.norm is not None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new.norm, name)[:n] = getattr(old.norm, name)[rows]
        new.norm.num_batches_tracked.copy_(old.norm.num_batches_tracked)


class _TaskLayer(nn.Module):
    """What :class:`TaskConv2d` and :class:`TaskLinear` share: blocks, tags and slicing.

    ``in_units_per_task[k]`` is how many *input* units task ``k`` contributed (for the
    first layer, whose input is the image, this is ``[in_channels]`` and the image is
    shared by every task). ``task_ids`` tags every *output* unit with its task.

    Every change (grow, widen, compact) builds its new block first and only then swaps
    it in: a failure while building (out of memory, say) leaves the layer as it was.
    """

    input_dims: int = 0  # 4 for images, 2 for feature vectors (set by subclasses)

    def __init__(self, in_units: int, mode: str, shared_input: bool, pick: bool = False) -> None:
        super().__init__()
        if mode not in ("reuse", "isolate"):
            raise ValueError(f"mode must be 'reuse' or 'isolate', got {mode!r}")
        if pick and mode != "reuse":
            raise ValueError("pick=True needs mode='reuse': a task can only pick among old weights it reads")
        self.mode, self.shared_input, self.pick = mode, shared_input, bool(pick)
        self.in_units_per_task: list[int] = [in_units]
        self.blocks = nn.ModuleList()
        # pick=True: picks[t][k] is task t's PickedView of block k < t (an empty list for task 0)
        self.picks = nn.ModuleList()
        self.register_buffer("task_ids", torch.empty(0, dtype=torch.long))
        # Subclasses set their own attributes, then call self._add_task(out_units, in_units) for task 0.

    # -- bookkeeping -------------------------------------------------------------------
    @property
    def num_tasks(self) -> int:
        return len(self.blocks)

    @property
    def out_units_per_task(self) -> list[int]:
        return [block.out_units for block in self.blocks]

    def expected_in_units(self, task_id: int) -> int:
        """How many input units (channels / features) ``forward(x, task_id)`` expects (block ``task_id`` reads)."""
        if self.shared_input:
            return self.in_units_per_task[0]
        if self.mode == "reuse":
            return sum(self.in_units_per_task[: task_id + 1])
        return self.in_units_per_task[task_id]  # isolate: the input holds only the task's own units

    def active_tasks(self, task_id: int) -> list[int]:
        """The tasks whose units ``task_id`` uses: all ``<= task_id``, or itself alone."""
        return list(range(task_id + 1)) if self.mode == "reuse" else [task_id]

    def out_units_for(self, task_id: int) -> int:
        """Number of output units that ``forward(x, task_id)`` returns."""
        return sum(self.blocks[k].out_units for k in self.active_tasks(task_id))

    def check_task_id(self, task_id: int) -> int:
        """``task_id`` if this layer has that task, else a ValueError that says which ids exist."""
        if not 0 <= task_id < self.num_tasks:
            raise ValueError(f"task_id {task_id} does not exist: this layer has {self.num_tasks} task(s), "
                             f"ids 0..{self.num_tasks - 1}. Call grow() to add a task.")
        return task_id

    def _old_units(self, task_id: int) -> int:
        """How many reused input units of older tasks block ``task_id`` reads (reuse mode)."""
        if self.shared_input or self.mode != "reuse":
            return 0
        return sum(self.in_units_per_task[:task_id])

    # -- changes: build the new block, then swap it in ---------------------------------
    def _build(self, task: int, out_units: int, own_in: int, like: UnitBlock | None = None) -> UnitBlock:
        """A fresh block for ``task``: ``out_units`` units reading ``own_in`` inputs of the task (and, in reuse
        mode, every older task's), where and as the layer is (device, dtype, train/eval). ``like``, the block
        it replaces, passes on its adapter statistics (the reused inputs did not change)."""
        old_units = self._old_units(task)
        read = self.in_units_per_task[0] if self.shared_input else old_units + own_in
        block = self._new_block(out_units, read, old_units)
        reference = like if like is not None else (self.blocks[0] if self.blocks else None)
        if reference is not None:  # a grown block lives where the model lives
            block.to(device=reference.unit.weight.device, dtype=reference.unit.weight.dtype).train(reference.training)
        if like is not None and like.adapter is not None:
            block.adapter.load_state_dict(like.adapter.state_dict())
        return block

    def _swap_in(self, task: int, block: UnitBlock, own_in: int) -> None:
        """Make ``block`` task ``task``'s (a new task's is appended), with ``own_in`` input units."""
        older = sum(self.out_units_per_task[:task])  # older tasks' units are tagged first
        if task == self.num_tasks:
            self.blocks.append(block)
            if task and not self.shared_input:
                self.in_units_per_task.append(own_in)
        else:
            self.blocks[task] = block
            if not self.shared_input:
                self.in_units_per_task[task] = own_in
        new_ids = torch.full((block.out_units,), task, dtype=torch.long, device=self.task_ids.device)
        self.task_ids = torch.cat([self.task_ids[:older], new_ids])

    def _add_task(self, out_units: int, in_units: int) -> None:
        block = self._build(self.num_tasks, out_units, in_units)
        if self.pick:
            reference = self.blocks[0].unit.weight if self.blocks else block.unit.weight
            views = nn.ModuleList(PickedView(old) for old in self.blocks)
            views.to(device=reference.device, dtype=reference.dtype).train(block.training)
        for old in self.blocks:
            old.freeze()
        for task_views in self.picks:
            for view in task_views:
                view.freeze()
        self._swap_in(self.num_tasks, block, in_units)
        if self.pick:
            self.picks.append(views)

    def task_modules(self, task_id: int) -> list[nn.Module]:
        """What ``task_id`` owns in this layer: its block and (``pick``) its views of older blocks."""
        return [self.blocks[task_id], *(self.picks[task_id] if self.pick else [])]

    def grow(self, out_units: int, in_units: int = 0) -> int:
        """Add a block of ``out_units`` units (may be 0) for a new task ("NeuronGenesis") and freeze every
        existing block; return the new task id. ``in_units``: units the new task added to the *previous*
        layer (ignored by the first layer, whose input, the image, is shared by all tasks)."""
        if self.mode == "isolate" and (out_units == 0 or (in_units == 0 and not self.shared_input)):
            raise ValueError("in isolate mode every layer must grow by at least one unit: a task reads only "
                             "its own units, so a layer without any would cut its path")
        self._add_task(out_units, in_units)
        return self.num_tasks - 1

    def widen(self, extra_out: int, extra_in: int = 0) -> None:
        """Give the newest task ``extra_out`` more units, without changing what it computes: its block becomes
        a wider copy whose connections from the previous layer's ``extra_in`` new units into the existing units
        start at zero (the new units start like any fresh layer). Older tasks are not touched at all."""
        task = self.num_tasks - 1
        old = self.blocks[task]
        own_in = 0 if self.shared_input else self.in_units_per_task[task] + extra_in
        new = self._build(task, old.out_units + extra_out, own_in, like=old)
        _transplant(new, old)
        self._swap_in(task, new, own_in)

    def compact(self, keep_out: Tensor, keep_in: Tensor | None = None) -> None:
        """Keep only the newest task's units ``keep_out`` ("synaptic pruning"); older tasks untouched.

        ``keep_in``: the task's own *input* units the previous layer kept (``None`` for the first
        layer, whose input is the image); indices ascending. The block becomes a smaller copy: the
        kept rows of its weights, BatchNorm parameters and statistics, reading every reused column
        of older tasks plus the kept columns of its own task.
        """
        task = self.num_tasks - 1
        old = self.blocks[task]
        own_in, columns = (0 if self.shared_input else self.in_units_per_task[task]), slice(None)
        if keep_in is not None and not self.shared_input:
            reused = self._old_units(task)  # input columns of older tasks come first (reuse mode)
            columns = torch.cat([torch.arange(reused, device="cpu"), reused + keep_in.cpu()]).to(old.unit.weight.device)
            own_in = len(keep_in)
        new = self._build(task, len(keep_out), own_in, like=old)
        _transplant(new, old, keep_out.to(old.unit.weight.device), columns)
        self._swap_in(task, new, own_in)

    def forward_parts(self, parts: list[Tensor | None], task_id: int) -> list[Tensor | None]:
        """Run the blocks ``task_id`` uses, keeping every task's units in a separate tensor.

        ``parts[i]`` holds the input units of the ``i``-th task in
        ``active_tasks(task_id)`` (``None`` where that task has no units here); for a
        layer with ``shared_input`` it is ``[x]``. The result has the same layout.

        Keeping the parts apart, rather than one concatenated tensor, is what lets
        autograd skip frozen units: a frozen block reads only frozen parts, so nothing
        trainable flows through it and no backward pass is recorded for it.
        """
        outputs: list[Tensor | None] = []
        for i, k in enumerate(self.active_tasks(task_id)):
            block = self.blocks[k]
            if block.out_units == 0:
                outputs.append(None)
                continue
            x = parts[0] if self.shared_input else parts[i]
            old = [p for p in parts[:i] if p is not None] if self.mode == "reuse" and not self.shared_input else []
            old = cat_parts(old) if old else None
            if self.pick and k < task_id:  # an older block, seen through task_id's own picking mask
                outputs.append(self.picks[task_id][k](block, x, old))
            else:
                outputs.append(block(x, old))
        return outputs

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        """Output units of every task that ``task_id`` uses, concatenated in task order."""
        task_id, expected = self.check_task_id(task_id), self.expected_in_units(task_id)
        if not isinstance(x, Tensor) or x.dim() != self.input_dims or x.shape[1] != expected:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: task {task_id} expects {expected} input units in dim 1 of a "
                             f"{self.input_dims}-D input, got {got}")
        if self.shared_input:
            parts: list[Tensor | None] = [x]
        else:
            sizes = [self.in_units_per_task[k] for k in self.active_tasks(task_id)]
            parts = [p if p.shape[1] else None for p in torch.split(x, sizes, dim=1)]
        return cat_parts(self.forward_parts(parts, task_id))

    def extra_repr(self) -> str:
        return f"units_per_task={self.out_units_per_task}, mode={self.mode!r}" + (", pick=True" if self.pick else "")


def cat_parts(parts: list[Tensor | None]) -> Tensor:
    """Concatenate per-task parts along the unit dimension, skipping empty ones."""
    present = [p for p in parts if p is not None]
    return present[0] if len(present) == 1 else torch.cat(present, dim=1)


class TaskConv2d(_TaskLayer):
    """A 2-D convolution whose filters are tagged with the task that created them.

    ``forward(x, task_id)`` runs conv → per-task BatchNorm for the filters that ``task_id`` uses and
    concatenates them in task order (channel ``c`` of the output belongs to task ``task_ids[c]``).
    ``in_channels``: input channels of task 0 (for a network's first layer, the image's, shared by all
    tasks: ``shared_input``); ``out_channels``: filters of task 0; ``kernel_size``, ``stride``, ``padding``
    as in :class:`torch.nn.Conv2d` (default padding: "same"); ``batch_norm``: per-task BatchNorm (and no
    conv bias); ``pick`` (reuse only): new tasks read older filters through picking masks (:class:`PickedView`).
    """

    input_dims = 4

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, batch_norm: bool = True, mode: Mode = "reuse",
                 shared_input: bool = False, pick: bool = False) -> None:
        super().__init__(in_channels, mode, shared_input, pick)
        self.kernel_size, self.stride, self.batch_norm = kernel_size, stride, batch_norm
        self.padding = kernel_size // 2 if padding is None else padding
        self._add_task(out_channels, in_channels)

    def _new_block(self, out_units: int, read_units: int, old_units: int = 0) -> UnitBlock:
        conv = nn.Conv2d(read_units, out_units, self.kernel_size, self.stride, self.padding, bias=not self.batch_norm)
        return UnitBlock(conv, BlockBatchNorm(out_units) if self.batch_norm else None,
                         BlockBatchNorm(old_units, affine=False) if old_units else None)


class TaskLinear(_TaskLayer):
    """A fully connected layer whose neurons are tagged with the task that created them.

    Same rules as :class:`TaskConv2d`: block ``k`` holds task ``k``'s neurons, reads
    the input features of tasks ``<= k`` (``"reuse"``) or of task ``k`` only
    (``"isolate"``), and is frozen as soon as a later task is added. After a convolution,
    a task's input features are its filters' flattened maps (channels × height × width).
    """

    input_dims = 2

    def __init__(self, in_features: int, out_features: int, bias: bool = True, mode: Mode = "reuse",
                 shared_input: bool = False, pick: bool = False) -> None:
        super().__init__(in_features, mode, shared_input, pick)
        self.use_bias = bias
        self._add_task(out_features, in_features)

    def _new_block(self, out_units: int, read_units: int, old_units: int = 0) -> UnitBlock:
        return UnitBlock(nn.Linear(read_units, out_units, bias=self.use_bias),
                         adapter=BlockBatchNorm(old_units, affine=False) if old_units else None)

