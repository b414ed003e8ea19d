"""Data: the datasets of the continual-learning sequence, and how a network sees them.

One concept per file:

* :mod:`.datasets` — the dataset table (``DATASETS``, ``get_spec``), ``DataError``, the data root;
* :mod:`.checks` — validation of four arrays (dtypes, shapes, labels, class coverage);
* :mod:`.sources` — ``load_arrays``: the ``.npz`` cache, torchvision's files, download diagnosis;
* :mod:`.synthetic` — ``make_synthetic``: procedural stand-ins for tests and smoke runs;
* :mod:`.streams` — related-task streams (Split CIFAR-10, Permuted MNIST …) and their names;
* :mod:`.splits` — seeded, stratified training subsets and validation splits;
* :mod:`.transforms` — image tensors: layout, padding, statistics, augmentation;
* :mod:`.tasks` — ``TaskDataset`` (a ``torch.utils.data.Dataset``) and ``task_dataset(name)``;
* :mod:`.provenance` — SHA-256 of files, arrays and tasks; ``data_record`` for results files.
"""

from .checks import check_arrays, check_class_coverage, check_test_classes
from .datasets import (ARRAY_KEYS, CLASS_NAMES, DATASETS, ENV_VAR, SPLITS, DataError, DatasetSpec, cache_path,
                       default_root, get_spec, is_synthetic)
from .provenance import data_record, dataset_provenance, sha256_arrays, sha256_file, task_provenance
from .sources import arrays_from_datasets, load_arrays
from .splits import balanced_counts, fit_n_train, proportional_counts, split_indices
from .streams import (MAX_PERMUTED_TASKS, STREAMS, StreamSpec, StreamTask, base_dataset, expand_tasks, permutation,
                      stream_task, task_arrays)
from .synthetic import make_synthetic
from .tasks import CHANNELS, IMAGE_SIZE, TaskDataset, TaskSplit, describe, task_dataset
from .transforms import augment_batch, channel_stats, erase_batch, pad_to, to_nchw

__all__ = [
    # datasets
    "ARRAY_KEYS", "CLASS_NAMES", "DATASETS", "ENV_VAR", "SPLITS", "DataError", "DatasetSpec", "cache_path",
    "default_root", "get_spec", "is_synthetic",
    # checks, sources, synthetic
    "check_arrays", "check_class_coverage", "check_test_classes", "arrays_from_datasets", "load_arrays",
    "make_synthetic",
    # streams
    "MAX_PERMUTED_TASKS", "STREAMS", "StreamSpec", "StreamTask", "base_dataset", "expand_tasks", "permutation",
    "stream_task", "task_arrays",
    # tasks: splits, transforms, TaskDataset
    "balanced_counts", "fit_n_train", "proportional_counts", "split_indices",
    "augment_batch", "channel_stats", "erase_batch", "pad_to", "to_nchw",
    "CHANNELS", "IMAGE_SIZE", "TaskDataset", "TaskSplit", "describe", "task_dataset",
    # provenance
    "data_record", "dataset_provenance", "sha256_arrays", "sha256_file", "task_provenance",
]
