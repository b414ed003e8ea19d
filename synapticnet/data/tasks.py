"""Tasks: :class:`TaskDataset` turns one dataset into one task of the continual sequence.

All tasks share one network input (by default 3×32×32, CIFAR's shape: :data:`CHANNELS` ×
:data:`IMAGE_SIZE` ²), so grey 28×28 images are padded to 32×32 and repeated over three
channels. Each task is normalised with its own training statistics, gets a stratified
validation split held out from its training data (:mod:`~synapticnet.data.splits`), and
serves shuffled, augmented training batches straight from uint8 tensors in memory
(:mod:`~synapticnet.data.transforms`) — fast enough that the data never slows training down.

A ``TaskDataset`` is a ``torch.utils.data.Dataset`` over its training split (``len``,
``ds[i]``), so a ``DataLoader`` works too; the engine uses the faster batch methods.
:func:`task_dataset` builds the task called by a name: a dataset or a stream task.
"""

from __future__ import annotations

import math
import operator
import os
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..profiles import NORMALIZATIONS
from .checks import check_arrays
from .datasets import DATASETS, SPLITS
from .provenance import sha256_arrays
from .sources import arrays_from_datasets, load_arrays, name_of
from .splits import fit_n_train, split_indices
from .streams import base_dataset, stream_task, task_arrays
from .transforms import augment_batch, channel_stats, erase_batch, pad_to, to_nchw

__all__ = ["CHANNELS", "IMAGE_SIZE", "TaskDataset", "TaskSplit", "describe", "task_dataset"]

IMAGE_SIZE, CHANNELS = 32, 3  # the network input every task is harmonised to: CIFAR's 3×32×32
DEFAULT_VAL_SIZE = 0.1


def _generator(seed: int, epoch: int) -> torch.Generator:
    """A torch generator seeded from ``(seed, epoch)``: every epoch its own, reproducible order."""
    state = np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, epoch & 0xFFFF_FFFF_FFFF_FFFF, 2])
    return torch.Generator().manual_seed(int(state.generate_state(1, np.uint64)[0]))


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _all_identical(images: Tensor) -> bool:
    """``True`` if there are two or more images and all are equal (checks two first: cheap for real data)."""
    return len(images) > 1 and torch.equal(images[0], images[1]) and bool((images == images[:1]).all())


class TaskDataset(Dataset):
    """One task of the continual sequence: a dataset harmonised to the network's input.

    **Harmonisation.** A continual network has one input layer for all tasks, so every
    task is brought to ``channels × image_size × image_size`` (default 3×32×32, CIFAR):

    * grey images are *repeated* over the three channels (a grey pixel is an RGB pixel
      with R = G = B) — only at batch time, so memory holds one channel;
    * 28×28 images are *zero-padded* by 2 px on every side to 32×32, not resized.
      Padding is exact: the digit or garment keeps its pixels, its stroke widths and
      its size, and MNIST's black background simply extends by 2 px. A bilinear resize
      would blur every stroke, change stroke widths, and invent grey values that the
      dataset never had. (An ``image_size`` smaller than the images is a ``ValueError``:
      we pad, never shrink.) ``channels=1`` with an RGB dataset is a ``ValueError``
      too — we do not silently throw colour away.

    **Normalisation.** Each task is normalised with the per-channel mean and std of its
    *own training subset* (of the harmonised images, padding included) — never of the
    validation or test data, which would leak them into training. ``mean``/``std`` are
    on the 0…1 scale, like ``torchvision.transforms.Normalize``. ``normalization="half"``
    uses mean 0.5 and std 0.5 for every channel instead (``Normalize((0.5,), (0.5,))``:
    pixels from −1 to 1, whatever the dataset), as the original design's notebook did.

    **Splits.** ``n_train`` picks a stratified training subset (equal per-class counts
    as far as possible; ``None`` = everything left after validation). The validation
    split is held out of the *training* data, stratified, disjoint from the training
    subset; the test split is never trained on. ``n_test`` (default ``None``: all of it) evaluates on a
    stratified subset of the test split instead — a small budget's cheaper evaluation, at the price
    of a noisier number (one image of 2,000 is 0.05 points). ``val_size`` is a count (int) or the
    fraction of train + validation examples (float; 0 for none). ``train_index`` and
    ``val_index`` are the positions of the chosen examples in the source training split.

    **Speed.** Images stay uint8 tensors ``N×C×H×W`` in memory (already padded). A
    batch is one indexing operation; float conversion, normalisation, grey→RGB and
    augmentation happen on the whole batch. Augmentation (a random shift by up to
    ``crop_padding`` px — a zero-padded random crop — and, if ``flip``, a random horizontal
    flip) is on by default for RGB tasks, off for grey ones (``augment=None``), and is used
    only by :meth:`train_batches`. For digits pass ``flip=False``: a mirrored "2" is not a "2".
    ``test_flip=True`` tells :func:`synapticnet.engine.evaluate` to average the logits of
    each test image and its mirror image (test-time augmentation, for flip-trained tasks);
    ``test_shift=1`` adds the image moved one pixel up-left and one down-right (each with its
    mirror, if ``test_flip``).

    **Alternating flips** (``alternate_flips=True``, from Keller Jordan's airbench): instead of a
    fresh coin per image and epoch, epoch 0 flips a random half of the images and every later
    epoch flips exactly the images the epoch before did not, so over any two epochs each image
    is seen both ways once. Random coins leave a quarter of the images unflipped (or flipped)
    two epochs in a row.

    **Random erasing** (``random_erasing=p``, Zhong et al. 2017): after the shift and flip, each
    training image loses, with probability ``p``, a random rectangle of 2–40 % of its area, set to
    the training mean (:func:`~synapticnet.data.transforms.erase_batch`).

    Args:
        source: a dataset name (loaded with :func:`load_arrays`, using ``root`` and
            ``download``), a dict of arrays in that format, or a pair ``(train, test)`` of
            dataset objects with ``.data`` and ``.targets`` (e.g. torchvision's
            ``MNIST(root, train=True)`` and ``MNIST(root, train=False)``).
        task_id: position of the task in the sequence.
        image_size, channels: the network's input.
        n_train, val_size: see *Splits*.
        augment: ``None`` = auto (RGB yes, grey no), or ``True``/``False``.
        flip: random horizontal flips in the augmentation (default ``True``).
        crop_padding: the largest random shift, in pixels (zero-padding of the random crop;
            default 4 px, the classic CIFAR recipe; 0: no shift).
        test_flip: evaluate on the mean logits of each image and its mirror (default ``False``).
        test_shift: also evaluate on the image moved by this many pixels diagonally, both ways
            (reflect-padded), and average (default 0: no shift).
        alternate_flips: flip each image every other epoch instead of by a fresh coin (see above).
        random_erasing: the probability that a training image has a rectangle erased (default 0: never;
            only with ``augment``; see above).
        n_test: evaluate on this many test images, stratified (default ``None``: all).
        normalization: ``"dataset"`` (default: the training subset's mean and std) or ``"half"``
            (0.5 and 0.5); see *Normalisation*.
        seed: seeds the splits and every epoch's shuffle/augmentation.
        name: the dataset's name (default: ``source`` if it is a name). Pass it with a
            dict of arrays so the task knows its title, class count and whether it is synthetic.
        title, synthetic: override the title and the synthetic flag (default: from the
            dataset table, else the name and ``False``) — for arrays derived from a known
            dataset, such as one task of a stream (:mod:`synapticnet.data.streams`).
        num_classes: the class count of custom arrays (default: the labels must be exactly
            ``0 … C-1``, each present in training, and ``C`` is their number).
    """

    def __init__(
        self,
        source: str | Mapping[str, np.ndarray],
        task_id: int,
        image_size: int = IMAGE_SIZE,
        channels: int = CHANNELS,
        n_train: int | None = None,
        val_size: float | int = DEFAULT_VAL_SIZE,
        augment: bool | None = None,
        seed: int = 0,
        name: str | None = None,
        crop_padding: int = 4,
        *,
        flip: bool = True,
        test_flip: bool = False,
        test_shift: int = 0,
        alternate_flips: bool = False,
        random_erasing: float = 0.0,
        n_test: int | None = None,
        normalization: str = "dataset",
        root: str | os.PathLike | None = None,
        download: bool = True,
        title: str | None = None,
        synthetic: bool | None = None,
        num_classes: int | None = None,
    ) -> None:
        if isinstance(task_id, bool) or not isinstance(task_id, (int, np.integer)) or task_id < 0:
            raise ValueError(f"task_id must be an integer ≥ 0, got {task_id!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(map(repr, NORMALIZATIONS))}, "
                             f"got {normalization!r}")
        if isinstance(source, str):
            arrays, name = load_arrays(source, root=root, download=download), name or source
        elif isinstance(source, Mapping):
            arrays = source
        elif isinstance(source, (tuple, list)) and len(source) == 2:
            arrays, name = arrays_from_datasets(*source), name or name_of(source[0])
        elif hasattr(source, "data") and hasattr(source, "targets"):
            raise ValueError(f"a task needs a training and a test split: pass ({type(source).__name__}(…, train=True), "
                             f"{type(source).__name__}(…, train=False)) as the source")
        else:
            raise ValueError(f"source must be a dataset name, a dict of arrays or a (train, test) pair of datasets, "
                             f"got {type(source).__name__}")
        key = source if isinstance(source, str) else name
        spec = DATASETS.get(key) if key is not None else None
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                        or num_classes < 2):
            raise ValueError(f"num_classes must be an integer ≥ 2, got {num_classes!r}")
        # Custom arrays: labels 0 … C-1, every class in training, every test class too (or num_classes given).
        arrays = check_arrays(arrays, spec, num_classes)
        num_classes = int(num_classes or (spec.num_classes if spec else int(arrays["y_train"].max()) + 1))

        x_shape = arrays["x_train"].shape
        src_channels = 1 if len(x_shape) == 3 else x_shape[3]
        if src_channels == 3 and channels == 1:
            raise ValueError(f"{name or 'the dataset'} has RGB images but channels=1 was requested; "
                             f"use channels=3 (grey images are expanded to RGB, colour is never dropped)")
        if max(x_shape[1], x_shape[2]) > image_size:
            raise ValueError(f"{name or 'the dataset'} has {x_shape[1]}×{x_shape[2]} images, larger than "
                             f"image_size={image_size}; images are padded, never shrunk")

        self.task_id = int(task_id)
        self.name = name or "arrays"
        if title is None:
            title = spec.title if spec else (name or "custom arrays (unknown provenance)")
        self.title = title
        self.synthetic = bool(synthetic) if synthetic is not None else (bool(spec.synthetic) if spec else False)
        self.num_classes = num_classes
        self.image_size, self.channels, self.seed = int(image_size), int(channels), int(seed)
        self.source_shape = tuple(x_shape[1:])
        self.augment = (src_channels == 3) if augment is None else bool(augment)
        if isinstance(crop_padding, bool) or not isinstance(crop_padding, (int, np.integer)) or crop_padding < 0:
            raise ValueError(f"crop_padding must be an integer ≥ 0, got {crop_padding!r}")
        self.crop_padding = int(crop_padding)
        self.flip, self.test_flip = bool(flip), bool(test_flip)
        if isinstance(test_shift, bool) or not isinstance(test_shift, (int, np.integer)) or test_shift < 0:
            raise ValueError(f"test_shift must be an integer ≥ 0, got {test_shift!r}")
        self.test_shift, self.alternate_flips = int(test_shift), bool(alternate_flips)
        if (isinstance(random_erasing, bool) or not isinstance(random_erasing, (int, float, np.floating))
                or not 0 <= random_erasing <= 1):
            raise ValueError(f"random_erasing must be a probability between 0 and 1, got {random_erasing!r}")
        self.random_erasing = float(random_erasing)

        self.train_index, self.val_index = split_indices(arrays["y_train"], num_classes, n_train, val_size, seed)
        x_tr, y_tr = arrays["x_train"], arrays["y_train"]
        x_te, y_te = arrays["x_test"], np.asarray(arrays["y_test"])
        if n_test is not None and n_test < len(y_te):  # a stratified test subset: a budget's cheaper evaluation
            keep, _ = split_indices(y_te, num_classes, n_test, 0, seed)
            x_te, y_te = x_te[keep], y_te[keep]
        self._x: dict[str, Tensor] = {
            "train": pad_to(to_nchw(x_tr[self.train_index]), image_size),
            "val": pad_to(to_nchw(x_tr[self.val_index]), image_size),
            "test": pad_to(to_nchw(x_te), image_size),
        }
        self._y: dict[str, Tensor] = {
            "train": torch.from_numpy(y_tr[self.train_index].copy()),
            "val": torch.from_numpy(y_tr[self.val_index].copy()),
            "test": torch.from_numpy(np.ascontiguousarray(y_te)),
        }
        if _all_identical(self._x["train"]):
            warnings.warn(f"task {self.task_id} ({self.name!r}): all {self.n_train} training images are identical "
                          f"(zero variance), so there is nothing in them to learn; check the images",
                          UserWarning, stacklevel=2)
        self._fingerprint: str | None = None
        self.normalization = normalization
        if normalization == "half":  # torchvision's Normalize((0.5,), (0.5,)): the same for every dataset
            src_mean = src_std = torch.full((src_channels,), 0.5)
        else:
            src_mean, src_std = channel_stats(self._x["train"])
            src_std = src_std.clamp_min(1e-6)  # a constant channel would divide by zero
        repeat = channels // src_channels  # 3 for grey→RGB, else 1
        self.mean, self.std = src_mean.repeat(repeat), src_std.repeat(repeat)
        # normalise as x * scale + shift on the 0…255 scale: one fused multiply-add per pixel
        self._scale = (1.0 / (255.0 * src_std)).view(1, -1, 1, 1)
        self._shift = (-src_mean / src_std).view(1, -1, 1, 1)

    # ---- sizes ---------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return len(self._y["train"])

    @property
    def n_val(self) -> int:
        return len(self._y["val"])

    @property
    def n_test(self) -> int:
        return len(self._y["test"])

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the data this task uses: images and labels of train, val and test, as the network sees them.

        The harmonised uint8 images (subset chosen, padded) and the labels, hashed once
        with :func:`~synapticnet.data.sha256_arrays` and then remembered (the tensors are
        never changed). One changed pixel or label, or another subset, gives another hash.
        """
        if self._fingerprint is None:
            self._fingerprint = sha256_arrays({f"{kind}_{split}": (self._x if kind == "x" else self._y)[split]
                                               for split in SPLITS for kind in ("x", "y")})
        return self._fingerprint

    # ---- the PyTorch Dataset protocol ---------------------------------------------------
    def __len__(self) -> int:
        """Training examples: ``len(ds)``, as for any ``torch.utils.data.Dataset``."""
        return self.n_train

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        """Training example ``index``: ``(float32 C×H×W normalised image, int label)``, not augmented.

        This makes a task usable like any PyTorch dataset::

            loader = DataLoader(ds, batch_size=128, shuffle=True, num_workers=2)

        The engine does not use it: :meth:`train_batches` cuts whole batches straight
        from one uint8 tensor (one indexing operation per batch instead of one Python
        call per image) and augments them on the batch. Both give the same normalised
        tensors for the same images (tested).
        """
        return self._item("train", index)

    def split(self, name: str) -> "TaskSplit":
        """The ``"train"``, ``"val"`` or ``"test"`` split as a ``Dataset`` of the same kind."""
        return TaskSplit(self, self._check_split(name))

    def _item(self, split: str, index: int) -> tuple[Tensor, int]:
        n = len(self._y[split])
        i = operator.index(index)  # an int (or NumPy/torch integer), not a float or a slice
        if not -n <= i < n:
            raise IndexError(f"index {index} is out of range for the {split} split of {self.name!r} ({n} examples)")
        i %= n
        return self._finish(self._x[split][i:i + 1])[0], int(self._y[split][i])

    def num_train_batches(self, batch_size: int) -> int:
        """Batches per epoch of :meth:`train_batches` (the last one may be smaller)."""
        return math.ceil(self.n_train / _check_batch_size(batch_size))

    # ---- batches -------------------------------------------------------------------
    def _finish(self, images: Tensor) -> Tensor:
        """uint8 batch → normalised float32 ``B×channels×S×S``."""
        x = images.float().mul_(self._scale).add_(self._shift)
        if x.shape[1] != self.channels:  # grey → RGB: the same normalised values in all 3 channels
            x = x.expand(-1, self.channels, -1, -1).contiguous()
        return x

    def _check_split(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(map(repr, SPLITS))}")
        return split

    def train_batches(self, batch_size: int, epoch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled (and, if ``augment``, augmented) training batches.

        The order and the augmentation come from a generator seeded with
        ``(seed, epoch)``: epoch 3 of a resumed run is exactly epoch 3 of an
        uninterrupted one. The last batch may be smaller (``drop_last=False``).
        """
        batch_size = _check_batch_size(batch_size)
        return self._train_iter(batch_size, _generator(self.seed, int(epoch)), int(epoch))

    def flips_of_epoch(self, epoch: int) -> Tensor:
        """Alternating flips: which training images epoch ``epoch`` mirrors (a boolean per image). Epoch 0's
        half is drawn once from the seed; every odd epoch mirrors the other half."""
        first = torch.rand(self.n_train, generator=_generator(self.seed, 2**62)) < 0.5
        return first ^ bool(epoch % 2)

    def _train_iter(self, batch_size: int, generator: torch.Generator, epoch: int = 0
                    ) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self._x["train"], self._y["train"]
        order = torch.randperm(len(y), generator=generator)
        flips = self.flips_of_epoch(epoch) if self.augment and self.flip and self.alternate_flips else None
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            images = x[idx]
            if self.augment:
                images = augment_batch(images, generator, padding=self.crop_padding, flip=self.flip,
                                       flipped=None if flips is None else flips[idx])
            x_batch = self._finish(images)
            if self.augment and self.random_erasing:  # on normalised images: 0 is the training mean
                x_batch = erase_batch(x_batch, generator, p=self.random_erasing)
            yield x_batch, y[idx]

    def eval_batches(self, split: str = "test", batch_size: int = 512) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of ``"val"``, ``"test"`` or ``"train"`` in order, never augmented."""
        split, batch_size = self._check_split(split), _check_batch_size(batch_size)
        return self._eval_iter(split, batch_size)

    def _eval_iter(self, split: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self._x[split], self._y[split]
        for start in range(0, len(y), batch_size):
            yield self._finish(x[start:start + batch_size]), y[start:start + batch_size]

    def tensors(self, split: str = "test") -> tuple[Tensor, Tensor]:
        """A whole split as ``(images, labels)``, normalised, not augmented (small sets, plots)."""
        split = self._check_split(split)
        return self._finish(self._x[split]), self._y[split].clone()

    def raw(self, split: str = "test") -> tuple[Tensor, Tensor]:
        """A split's harmonised uint8 images ``N×C_source×S×S`` (padded, not normalised) and labels."""
        split = self._check_split(split)
        return self._x[split], self._y[split]

    def __repr__(self) -> str:
        tag = " [SYNTHETIC — not real data]" if self.synthetic else ""
        return (f"TaskDataset(task {self.task_id}: {self.name!r} = {self.title}{tag}, {self.num_classes} classes, "
                f"train/val/test {self.n_train}/{self.n_val}/{self.n_test}, "
                f"{self.channels}×{self.image_size}×{self.image_size}, augment={self.augment})")


class TaskSplit(Dataset):
    """One split of a :class:`TaskDataset` as a map-style ``Dataset`` (see :meth:`TaskDataset.split`)."""

    def __init__(self, task: TaskDataset, split: str) -> None:
        self.task, self.name = task, split

    def __len__(self) -> int:
        return len(self.task._y[self.name])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.task._item(self.name, index)

    def __repr__(self) -> str:
        return f"TaskSplit({self.name!r} of task {self.task.task_id} {self.task.name!r}, {len(self)} examples)"


def _augmentation(ds: TaskDataset) -> str:
    flip = "horizontal flip" + (" (alternating by epoch)" if ds.alternate_flips else "")
    steps = ([flip] if ds.flip else []) + ([f"random shift (up to {ds.crop_padding} px)"] if ds.crop_padding else [])
    steps += [f"random erasing (p = {ds.random_erasing:g})"] if ds.random_erasing else []
    return " + ".join(steps) if ds.augment and steps else "off"


def describe(ds: TaskDataset) -> str:
    """A few lines about a task for notebooks and logs; synthetic data is labelled loudly."""
    src = "×".join(map(str, ds.source_shape))
    lines = [
        f"task {ds.task_id}: {ds.title} ({ds.name})" + ("  ** SYNTHETIC STAND-IN, NOT REAL DATA **" if ds.synthetic else ""),
        f"  {ds.num_classes} classes; train {ds.n_train}, val {ds.n_val}, test {ds.n_test}",
        f"  source images {src} uint8 → network input {ds.channels}×{ds.image_size}×{ds.image_size} float32",
        f"  normalised with {'train' if ds.normalization == 'dataset' else 'fixed'} mean "
        f"{[round(v, 4) for v in ds.mean.tolist()]}, "
        f"std {[round(v, 4) for v in ds.std.tolist()]}",
        f"  augmentation on training batches: {_augmentation(ds)}"
        + ("; evaluated on the mean of each image and its mirror" if ds.test_flip else "")
        + (f" and of the image moved by {ds.test_shift} px both ways" if ds.test_shift else ""),
    ]
    return "\n".join(lines)


def task_dataset(name: str, task_id: int, *, root: str | os.PathLike | None = None, download: bool = True,
                 cache: MutableMapping[str, dict[str, np.ndarray]] | None = None,
                 **options: Any) -> TaskDataset:
    """The :class:`TaskDataset` of a dataset or a stream task, named ``name``.

    ``options`` go to ``TaskDataset`` (``image_size``, ``n_train``, ``seed`` …). ``cache``
    maps dataset names to arrays already loaded (pass one dict for a whole task list:
    five Split CIFAR-10 tasks read CIFAR-10 once); a missing base dataset raises the
    :class:`~synapticnet.data.DataError` of :func:`~synapticnet.data.load_arrays`. A stream
    task gets its title (which names its classes) and is marked synthetic if its base is.

    The synthetic stand-ins are small by design (generated in under a second), so for
    them ``n_train`` is capped at what the task has beside its validation split (a
    synthetic Split MNIST task has 600 images in its training split); real data never is: asking for
    more examples than a real task has is a ``ValueError``.
    """
    base = base_dataset(name)
    cache = {} if cache is None else cache
    if base not in cache:
        cache[base] = load_arrays(base, root=root, download=download)
    arrays = cache[base] if base == name else task_arrays(name, cache[base])
    task = stream_task(name)
    if task is not None:
        options = {**options, "title": task.title, "synthetic": task.synthetic}
    if DATASETS[base].synthetic:  # a stream task is synthetic when its base dataset is
        val_size = options.get("val_size", DEFAULT_VAL_SIZE)
        options = {**options, "n_train": fit_n_train(len(arrays["y_train"]), options.get("n_train"), val_size)}
    return TaskDataset(arrays, task_id, name=name, **options)
