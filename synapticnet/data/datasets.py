"""The dataset table: which datasets exist, what they look like, and where their files live.

A :class:`DatasetSpec` is what we know about a dataset *before* loading it (class count,
image shape, torchvision's files, or the seed of a synthetic stand-in) — everything that
is loaded is checked against it. :data:`DATASETS` is the table of all of them, read-only.

The data root is an argument everywhere; by default it is ``$SYNAPTICNET_DATA``, else
``data/`` in the repository (git-ignored), else — for an installed package — ``data/`` under
the working folder (:func:`default_root`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType


__all__ = [
    "ARRAY_KEYS", "CLASS_NAMES", "DATASETS", "ENV_VAR", "SPLITS", "DataError", "DatasetSpec",
    "cache_path", "default_root", "get_spec", "is_synthetic", "resolve_root",
]

ARRAY_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")
ENV_VAR = "SYNAPTICNET_DATA"
SPLITS: tuple[str, ...] = ("train", "val", "test")


def is_checkout(folder: Path) -> bool:
    """True when ``folder`` is the root of a SynapticNet source checkout (pyproject + package)."""
    pyproject = folder / "pyproject.toml"
    if not (pyproject.is_file() and (folder / "synapticnet" / "__init__.py").is_file()):
        return False
    return re.search(r'^name\s*=\s*"synapticnet"', pyproject.read_text(encoding="utf-8"), re.M) is not None


class DataError(RuntimeError):
    """A dataset could not be provided: not found, download failed, or a file is corrupt.

    The message always says which dataset, where it was looked for, and what to do.
    """


@dataclass(frozen=True)
class DatasetSpec:
    """What we know about a dataset before loading it — used to validate what we load.

    Attributes:
        name: the short name used everywhere (``"mnist"``, ``"synthetic_cifar10"``).
        title: the human name for tables and plots. Synthetic ones say so.
        num_classes: labels are ``0 … num_classes-1``.
        image_shape: the shape of one image as stored: ``(H, W)`` grey or ``(H, W, 3)`` RGB.
        torchvision: class name in ``torchvision.datasets`` (``None`` for synthetic data).
        torchvision_files: the files torchvision reads, relative to the data root.
        synthetic: ``True`` for procedural stand-ins (never real data).
        seed, n_train, n_test: how a synthetic dataset is generated.
    """

    name: str
    title: str
    num_classes: int
    image_shape: tuple[int, ...]
    torchvision: str | None = None
    torchvision_files: tuple[str, ...] = ()
    synthetic: bool = False
    seed: int | None = None
    n_train: int | None = None
    n_test: int | None = None

    @property
    def channels(self) -> int:
        """1 for grey images, 3 for RGB."""
        return 1 if len(self.image_shape) == 2 else self.image_shape[2]

    @property
    def image_size(self) -> int:
        """Side length of the (square) images."""
        return self.image_shape[0]


def _mnist_files(folder: str) -> tuple[str, ...]:
    return tuple(f"{folder}/raw/{stem}-ubyte" for stem in
                 ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"))


def _synthetic(name: str, like: str, num_classes: int, size: int, channels: int, seed: int,
               n_train: int, n_test: int) -> DatasetSpec:
    shape = (size, size) if channels == 1 else (size, size, channels)
    return DatasetSpec(name=name, title=f"Synthetic {like}-like (not real data)", num_classes=num_classes,
                       image_shape=shape, synthetic=True, seed=seed, n_train=n_train, n_test=n_test)


# Read-only (a MappingProxy): a table of facts, not state anyone should change at run time.
DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({
    "mnist": DatasetSpec("mnist", "MNIST", 10, (28, 28), "MNIST", _mnist_files("MNIST")),
    "fashion_mnist": DatasetSpec("fashion_mnist", "Fashion-MNIST", 10, (28, 28), "FashionMNIST",
                                 _mnist_files("FashionMNIST")),
    "cifar10": DatasetSpec("cifar10", "CIFAR-10", 10, (32, 32, 3), "CIFAR10", tuple(
        f"cifar-10-batches-py/{f}" for f in
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
         "batches.meta"))),
    "cifar100": DatasetSpec("cifar100", "CIFAR-100", 100, (32, 32, 3), "CIFAR100",
                            ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta")),
    # Synthetic stand-ins: fixed, distinct seeds; small enough to generate in well under a second.
    "synthetic_mnist": _synthetic("synthetic_mnist", "MNIST", 10, 28, 1, 1001, 3000, 600),
    "synthetic_fashion_mnist": _synthetic("synthetic_fashion_mnist", "Fashion-MNIST", 10, 28, 1, 1002, 3000, 600),
    "synthetic_cifar10": _synthetic("synthetic_cifar10", "CIFAR-10", 10, 32, 3, 1003, 3000, 600),
    "synthetic_cifar100": _synthetic("synthetic_cifar100", "CIFAR-100", 100, 32, 3, 1004, 5000, 1000),
})

# Class names in label order, for titles (the real datasets' own label order).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_CLASSES: tuple[str, ...] = (  # the 100 "fine" labels, alphabetical = label order
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
CLASS_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mnist": tuple(str(d) for d in range(10)),
    "cifar10": CIFAR10_CLASSES,
    "cifar100": CIFAR100_CLASSES,
})


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; a ``ValueError`` lists the known names."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def is_synthetic(name: str) -> bool:
    """``True`` if ``name`` is a procedural stand-in, ``False`` for a real dataset."""
    return get_spec(name).synthetic


# --------------------------------------------------------------------------------------
# Where the data lives
# --------------------------------------------------------------------------------------


def default_root() -> Path:
    """``$SYNAPTICNET_DATA`` if set; else ``data/`` in the repository when running from a
    source checkout; else ``data/`` under the current working folder (an installed package,
    e.g. on Colab: never inside ``site-packages``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    top = Path(__file__).resolve().parents[2]  # the repository, when the package runs from a source checkout
    return (top if is_checkout(top) else Path.cwd()) / "data"


def resolve_root(root: str | os.PathLike | None) -> Path:
    """``root`` as a path, or :func:`default_root` for ``None``."""
    return default_root() if root is None else Path(root).expanduser()


def cache_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """The cache file of a real dataset: ``<root>/<name>.npz``."""
    return resolve_root(root) / f"{get_spec(name).name}.npz"
