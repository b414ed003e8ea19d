"""Continual-learning methods as plug-ins: one small file per method, one registry.

Every method is a class on :class:`~synapticnet.methods.base.Method` with named hooks
(``build``, ``next_task``, ``before_task``, ``loss``, ``after_backward``,
``after_task``) that the one training loop (:func:`synapticnet.engine.train_task`) and
the runner (:func:`synapticnet.run.run`) call. A class decorated with
:func:`register` can be run by name everywhere (``run``, ``sweep``,
``compare``, ``python -m synapticnet run --method NAME``)::

    from synapticnet.methods import Method, register

    @register
    class L2(Method):
        name = "l2"
        defaults = {"strength": 1.0}
        ...

=======================  ==========================================================
``finetune``             no protection: the forgetting reference
``ewc``                  Fisher-weighted quadratic penalty (Kirkpatrick et al., 2017)
``replay``               a stratified memory per task, replayed every step
``lwf``                  distillation from a frozen copy (Li & Hoiem, 2016)
``gem``                  gradient projection, one constraint per old task (Lopez-Paz & Ranzato, 2017)
``agem``                 gradient projection, one averaged constraint (Chaudhry et al., 2019)
``joint``                all tasks at once at the same step budget (multi-task reference)
``separate``             one network per task (parameter-cost reference)
``synapticnet``          task-gated growth, frozen old units
``synapticnet_distill``  growth with old units trainable under distillation
=======================  ==========================================================
"""

from __future__ import annotations

from . import finetune, ewc, replay, lwf, gem, agem, joint, separate, synapticnet, synapticnet_distill  # noqa: F401
from .base import REGISTRY, Method, class_incremental_accuracy, get_method, register
from .networks import MultiHeadCNN, SeparateNetworks, final_width

__all__ = ["REGISTRY", "Method", "MultiHeadCNN", "SeparateNetworks", "class_incremental_accuracy", "final_width",
           "get_method", "register"]
