"""Validation: are four arrays a dataset a network can be trained and tested on?

Every array set — from a cache file, from torchvision, or passed in by you — goes through
:func:`check_arrays` before anyone uses it, because a truncated file that loads "fine",
or labels that do not match the images, would silently poison every number computed
from them. The checks only read the arrays; they never change them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .datasets import ARRAY_KEYS, DatasetSpec

__all__ = ["check_arrays", "check_class_coverage", "check_test_classes"]

MAX_LABEL = 100_000  # the most classes a task may have (as a network head: synapticnet.checks.MAX_CLASSES)


def check_arrays(arrays: Mapping[str, Any], spec: DatasetSpec | None = None,
                 num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Check a dataset's four arrays and return them with labels as int64.

    Checks: all four keys; ``x`` uint8 with one image shape shared by train and test
    (``N×H×W`` or ``N×H×W×C`` with ``C`` in 1, 3) — and equal to ``spec.image_shape`` if
    a spec is given; ``y`` a 1-D integer array with one label per image; labels in
    ``[0, num_classes)``; the training labels *cover* the classes (see
    :func:`check_class_coverage`): a training split without some classes would train a
    classifier that can never predict them, and a one-class split scores 100 % on
    itself — a number that means nothing; and every test label is a class that has
    training examples (:func:`check_test_classes`). Raises ``ValueError`` saying what
    was expected.

    ``num_classes`` (or ``spec.num_classes``) is the number of classes the labels must
    cover; without either, it is unknown (custom arrays) and only a training split with
    a single class, or test classes that never occur in training, are rejected.
    """
    if not isinstance(arrays, Mapping):
        raise ValueError(f"expected a dict with keys {', '.join(ARRAY_KEYS)}, got {type(arrays).__name__}")
    missing = [k for k in ARRAY_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"missing array(s) {', '.join(missing)}; expected keys {', '.join(ARRAY_KEYS)}")
    out = {k: np.asarray(arrays[k]) for k in ARRAY_KEYS}
    classes = num_classes if num_classes is not None else (spec.num_classes if spec else None)
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        if x.dtype != np.uint8:
            raise ValueError(f"x_{split} must be uint8 images (0…255), got dtype {x.dtype}")
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)):
            raise ValueError(f"x_{split} must be N×H×W (grey) or N×H×W×C with C in (1, 3), got shape {x.shape}")
        if spec is not None and x.shape[1:] != spec.image_shape:
            raise ValueError(f"x_{split} must hold {spec.title} images of shape N×{'×'.join(map(str, spec.image_shape))}, "
                             f"got {x.shape}")
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            raise ValueError(f"y_{split} must be a 1-D integer array of labels, got dtype {y.dtype}, shape {y.shape}")
        if len(y) != len(x):
            raise ValueError(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
        if len(y) and int(y.min()) < 0:  # Python ints: a uint64 label past 2**63 must not wrap when cast
            raise ValueError(f"y_{split} has negative labels (min {y.min()}); labels must be 0 … K-1")
        if len(y) and int(y.max()) > MAX_LABEL:
            raise ValueError(f"y_{split} has label {int(y.max())}; labels must be 0 … K-1 (at most {MAX_LABEL})")
        if classes is not None and len(y) and y.max() >= classes:
            raise ValueError(f"y_{split} has label {y.max()}, but the dataset has {classes} classes (labels 0…{classes - 1})")
        out[f"y_{split}"] = y.astype(np.int64, copy=False)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise ValueError(f"train and test images differ in shape: {out['x_train'].shape[1:]} vs {out['x_test'].shape[1:]}")
    if len(out["x_train"]) == 0:
        raise ValueError("x_train is empty")
    check_class_coverage(out["y_train"], classes, spec.title if spec else None)
    check_test_classes(out["y_train"], out["y_test"])
    return out


def _list_classes(classes: np.ndarray, limit: int = 12) -> str:
    """``"3, 4, 5"``, or ``"0, 1, … (99 in all)"`` for long lists."""
    shown = ", ".join(str(int(c)) for c in classes[:limit])
    return shown if len(classes) <= limit else f"{shown}, … ({len(classes)} in all)"


def check_class_coverage(y_train: np.ndarray, num_classes: int | None, title: str | None = None) -> None:
    """Raise ``ValueError`` unless the training labels contain every class ``0 … num_classes-1``.

    With ``num_classes=None`` (custom arrays, the class count is inferred from the
    labels) only the degenerate case is rejected: a training split of one single class,
    which every model learns perfectly by always answering that class.
    """
    present = np.unique(y_train)
    what = f"the {title} training labels" if title else "y_train"
    if num_classes is None:
        if len(present) < 2:
            raise ValueError(f"{what} are all class {int(present[0])}: a classifier needs at least two classes "
                             f"(it would score 100 % by always answering {int(present[0])}); check the labels")
        if int(present[-1]) != len(present) - 1:  # the class count is inferred: labels must be exactly 0 … C-1
            missing = np.setdiff1d(np.arange(min(int(present[-1]), MAX_LABEL)), present)
            raise ValueError(f"{what} hold {len(present)} classes but labels up to {int(present[-1])}: labels must "
                             f"be 0 … C-1 with every class in training (missing {_list_classes(missing)}); "
                             "relabel them, or pass num_classes")
        return
    missing = np.setdiff1d(np.arange(num_classes), present)
    if len(missing):
        raise ValueError(f"{what} cover only {len(present)} of the {num_classes} classes: class(es) "
                         f"{_list_classes(missing)} have no training example, so they could never be learned "
                         f"and the accuracy would mean nothing; check that the labels are complete")


def check_test_classes(y_train: np.ndarray, y_test: np.ndarray) -> None:
    """Raise a one-line ``ValueError`` if a test label is a class without training examples.

    The network's class count comes from the training labels: a test class it never saw
    could only ever count as an error, so the test accuracy would be wrong by design.
    """
    unseen = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if len(unseen):
        raise ValueError(f"y_test has class(es) {_list_classes(unseen)} that never occur in y_train: a classifier "
                         f"cannot learn them, so every such test image would count as an error; give those classes "
                         f"training examples or drop them from the test split")
