"""Fine-tuning: one shared network, one head per task, no protection at all.

The forgetting reference: every other method is measured by how much less it forgets.
It overrides no hook — the base class's plain cross-entropy on the newest head is all.
"""

from __future__ import annotations

from .base import Method, register


@register
class Finetune(Method):
    """Train each new task with plain cross-entropy; nothing protects the old tasks."""

    name = "finetune"
