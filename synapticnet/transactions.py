"""Machinery a reader of the network may skip: changes that happen completely or not at all, and a clear
error for a backward pass through a frozen task.

:class:`~synapticnet.guarded.MultiTaskConvSynapticNet` grows layer after layer; should the third layer fail
(out of memory, Ctrl-C), the first two must not stay grown. :func:`all_or_nothing` remembers what every
submodule was and puts it back if the change raises. :class:`FrozenTask` turns the error autograd would
give deep inside a backward pass into one sentence that says why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .layers import UnitBlock


class FrozenTask(torch.autograd.Function):
    """``FrozenTask.apply(output, anchor, message)``: ``output``, whose backward pass raises ``message``."""

    @staticmethod
    def forward(ctx, output: Tensor, anchor: Tensor, message: str) -> Tensor:
        ctx.message = message
        return output.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        raise RuntimeError(ctx.message)


@contextlib.contextmanager
def all_or_nothing(module: nn.Module) -> Iterator[None]:
    """Change ``module``'s structure completely or not at all: a model grows layer after layer, and should the
    third fail (out of memory, Ctrl-C), the first two must not stay grown. If the body raises, every submodule
    gets its attributes back (children, buffers, sizes, flags), every parameter its ``requires_grad`` and grad."""
    saved, todo = [], [module]
    while todo:
        m = todo.pop()
        if not (isinstance(m, UnitBlock) and m.frozen):  # a frozen block never changes again: no need to save it
            saved.append((m, {k: v.copy() if k in ("_modules", "_parameters", "_buffers") or type(v) is list else v
                              for k, v in vars(m).items()}))
            todo.extend(m.children())
    params = [(p, p.requires_grad, p.grad) for _, a in saved for p in a["_parameters"].values() if p is not None]
    try:
        yield
    except BaseException:
        for m, attributes in saved:
            vars(m).clear()
            vars(m).update(attributes)
        for p, requires_grad, grad in params:
            p.requires_grad_(requires_grad).grad = grad
        raise
