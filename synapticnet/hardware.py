"""The processor a number was measured on, read without torch.

Speed and rounding both depend on the processor, so every measured time and every paired run records it. This module
imports nothing of the package or of torch: the notebook runner (``scripts/run_notebooks.py``) loads it by file to
label each notebook's wall time without waiting for torch to start. :func:`synapticnet.run.machine` adds torch's
version and kernels to it.
"""

from __future__ import annotations

import platform

__all__ = ["processor"]


def processor() -> str:
    """The processor's model name (``"AMD EPYC"``) from ``/proc/cpuinfo``; where there is none (macOS, Windows),
    what :mod:`platform` reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        model = ""
    return model or platform.processor() or platform.machine()
