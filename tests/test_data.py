"""The data layer: loading, caching, validation, synthetic stand-ins, and TaskDataset.

Everything here is offline and uses temporary folders. Real datasets are imitated by
tiny files in torchvision's own on-disk formats (idx files for MNIST, pickled batches
for CIFAR), so the torchvision → cache → cache-only path is exercised for real; the
files in the shared data folder are never needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synapticnet import data
from synapticnet.data import sources
from synapticnet.data import DATASETS, DataError, TaskDataset, load_arrays, make_synthetic

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are tiny: one thread is fastest, and on a busy 2-core machine two
    threads contending for a core make every small op wait a whole scheduler tick."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------------------
# Tiny datasets in torchvision's on-disk formats
# --------------------------------------------------------------------------------------


def tiny_arrays(name: str, n_train: int = 40, n_test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    spec = DATASETS[name]
    rng = np.random.default_rng(seed)
    return dict(
        x_train=rng.integers(0, 256, size=(n_train, *spec.image_shape), dtype=np.uint8),
        y_train=(np.arange(n_train) % spec.num_classes).astype(np.int64),
        x_test=rng.integers(0, 256, size=(n_test, *spec.image_shape), dtype=np.uint8),
        y_test=rng.integers(0, spec.num_classes, size=n_test).astype(np.int64),
    )


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format of MNIST: magic (0x08 = uint8, number of dims), big-endian sizes, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist_files(root: Path, name: str, arrays: dict[str, np.ndarray]) -> Path:
    """torchvision 0.29's MNIST/FashionMNIST read ``<Class>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
    (``_check_exists`` only checks that the four uncompressed files exist; no md5)."""
    raw = root / DATASETS[name].torchvision / "raw"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", arrays[f"x_{split}"])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", arrays[f"y_{split}"])
    return raw.parent


def write_cifar_files(root: Path, name: str, arrays: dict[str, np.ndarray]) -> Path:
    """CIFAR's python pickles: rows of 3072 bytes (channel-major), labels in a list."""
    def batch(x: np.ndarray, y: np.ndarray, key: str) -> dict:
        return {"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), key: y.tolist()}

    if name == "cifar10":
        folder, key = root / "cifar-10-batches-py", "labels"
        chunks = np.array_split(np.arange(len(arrays["x_train"])), 5)
        files = {f"data_batch_{i + 1}": batch(arrays["x_train"][c], arrays["y_train"][c], key) for i, c in enumerate(chunks)}
        files["test_batch"] = batch(arrays["x_test"], arrays["y_test"], key)
        files["batches.meta"] = {"label_names": [f"class{i}" for i in range(10)]}
    else:
        folder, key = root / "cifar-100-python", "fine_labels"
        files = {"train": batch(arrays["x_train"], arrays["y_train"], key),
                 "test": batch(arrays["x_test"], arrays["y_test"], key),
                 "meta": {"fine_label_names": [f"class{i}" for i in range(100)]}}
    folder.mkdir(parents=True)
    for filename, content in files.items():
        with open(folder / filename, "wb") as f:
            pickle.dump(content, f)
    return folder


@pytest.fixture
def cifar_md5_off(monkeypatch):
    """torchvision's CIFAR checks the md5 of every batch file against the official one
    (``CIFAR10._check_integrity`` → ``check_integrity(path, md5)``). Our tiny files cannot
    match, so in these tests the check is reduced to "the file exists"."""
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def write_torchvision_files(root: Path, name: str, arrays: dict[str, np.ndarray]) -> Path:
    return write_mnist_files(root, name, arrays) if "mnist" in name else write_cifar_files(root, name, arrays)


def assert_same_arrays(a: dict, b: dict) -> None:
    assert set(a) == set(b) == set(data.ARRAY_KEYS)
    for key in data.ARRAY_KEYS:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


def forbid_torchvision(monkeypatch) -> None:
    """Make any use of torchvision's dataset classes (or our reader) fail loudly."""
    import torchvision.datasets as tvd

    def boom(*args, **kwargs):
        raise AssertionError("torchvision was used although the cache file exists")

    for cls in ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100"):
        monkeypatch.setattr(tvd, cls, boom)
    monkeypatch.setattr(sources, "_read_torchvision", boom)


# --------------------------------------------------------------------------------------
# load_arrays: torchvision files → cache → cache only
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_torchvision_files_become_a_cache_that_is_used_without_torchvision(tmp_path, monkeypatch, cifar_md5_off, name):
    expected = tiny_arrays(name, n_train=100 if name == "cifar100" else 40)
    folder = write_torchvision_files(tmp_path, name, expected)

    first = load_arrays(name, root=tmp_path, download=False)
    assert_same_arrays(first, expected)
    cache = tmp_path / f"{name}.npz"
    assert cache.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic write left no temp file
    with np.load(cache) as npz:  # the documented cache format
        assert sorted(npz.files) == sorted(data.ARRAY_KEYS)
        assert npz["x_train"].dtype == np.uint8 and npz["y_train"].dtype == np.int64

    forbid_torchvision(monkeypatch)
    for p in sorted(folder.rglob("*"), reverse=True):  # torchvision's files are gone as well
        p.unlink() if p.is_file() else p.rmdir()
    folder.rmdir()
    assert_same_arrays(load_arrays(name, root=tmp_path, download=False), expected)


def test_a_cache_hit_does_not_even_import_torchvision(tmp_path):
    np.savez_compressed(tmp_path / "mnist.npz", **tiny_arrays("mnist"))
    code = textwrap.dedent(f"""
        import sys
        from synapticnet.data import load_arrays
        arrays = load_arrays("mnist", root={str(tmp_path)!r}, download=True)
        assert arrays["x_train"].shape == (40, 28, 28), arrays["x_train"].shape
        assert "torchvision" not in sys.modules, "torchvision was imported"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr


def test_data_root_defaults_to_env_var_then_repo_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPTICNET_DATA", str(tmp_path))
    assert data.default_root() == tmp_path
    np.savez_compressed(tmp_path / "fashion_mnist.npz", **tiny_arrays("fashion_mnist"))
    assert load_arrays("fashion_mnist", download=False)["x_train"].shape == (40, 28, 28)
    monkeypatch.delenv("SYNAPTICNET_DATA")
    assert data.default_root() == REPO / "data"


def test_shared_data_style_uint8_labels_are_accepted_and_returned_as_int64(tmp_path):
    arrays = tiny_arrays("mnist")
    np.savez_compressed(tmp_path / "mnist.npz", **{**arrays, "y_train": arrays["y_train"].astype(np.uint8),
                                                  "y_test": arrays["y_test"].astype(np.uint8)})
    loaded = load_arrays("mnist", root=tmp_path, download=False)
    assert loaded["y_train"].dtype == np.int64 and np.array_equal(loaded["y_train"], arrays["y_train"])


# --------------------------------------------------------------------------------------
# load_arrays: what goes wrong, and how it is reported
# --------------------------------------------------------------------------------------


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        load_arrays("imagenet")
    message = str(info.value)
    assert "imagenet" in message and all(name in message for name in DATASETS)


def truncated(path: Path) -> None:
    np.savez_compressed(path, **tiny_arrays("mnist", n_train=400))
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not a zip file" * 10)


def wrong_shape(path: Path) -> None:
    arrays = tiny_arrays("mnist")
    np.savez_compressed(path, **{**arrays, "x_train": arrays["x_train"][:, :27]})


def labels_out_of_range(path: Path) -> None:
    arrays = tiny_arrays("mnist")
    np.savez_compressed(path, **{**arrays, "y_test": arrays["y_test"] + 10})


def missing_key(path: Path) -> None:
    arrays = tiny_arrays("mnist")
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if k != "y_test"})


def float_images(path: Path) -> None:
    arrays = tiny_arrays("mnist")
    np.savez_compressed(path, **{**arrays, "x_train": arrays["x_train"].astype(np.float32)})


@pytest.mark.parametrize("corrupt", [truncated, garbage, wrong_shape, labels_out_of_range, missing_key, float_images])
def test_a_bad_cache_file_is_never_used_silently(tmp_path, corrupt):
    path = tmp_path / "mnist.npz"
    corrupt(path)
    with pytest.raises(DataError) as info:
        load_arrays("mnist", root=tmp_path, download=True)  # download allowed: still no silent re-download
    message = str(info.value)
    assert str(path) in message and "Delete it" in message


def test_a_bad_cache_file_is_rebuilt_from_torchvision_files_when_they_are_there(tmp_path):
    expected = tiny_arrays("mnist")
    write_mnist_files(tmp_path, "mnist", expected)
    truncated(tmp_path / "mnist.npz")
    with pytest.warns(RuntimeWarning, match="Rebuilding"):
        assert_same_arrays(load_arrays("mnist", root=tmp_path, download=False), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache is good: no warning the second time
        assert_same_arrays(load_arrays("mnist", root=tmp_path, download=False), expected)


@pytest.mark.parametrize("name, module, expected_file", [
    ("mnist", "mnist", "MNIST/raw/train-images-idx3-ubyte"),
    ("cifar10", "cifar", "cifar-10-batches-py/data_batch_1"),
])
def test_a_failed_download_explains_what_to_provide(tmp_path, monkeypatch, name, module, expected_file):
    import importlib

    tv_module = importlib.import_module(f"torchvision.datasets.{module}")

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_module, "download_and_extract_archive", offline)
    monkeypatch.delenv("SYNAPTICNET_DATA", raising=False)
    with pytest.raises(DataError) as info:
        load_arrays(name, root=tmp_path, download=True)
    message = str(info.value)
    for needed in (repr(name), DATASETS[name].title, str(tmp_path), f"{name}.npz", expected_file,
                   "SYNAPTICNET_DATA", "the download failed: no internet connection here"):
        assert needed in message, f"{needed!r} missing from:\n{message}"
    assert "Traceback" not in message and "URLError" not in message  # words, not an exception's repr
    assert info.value.__cause__ is not None  # raised `from` the original error, for debugging
    assert not (tmp_path / f"{name}.npz").exists()


def test_a_download_failing_for_another_reason_keeps_its_gist(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def broken(*args, **kwargs):
        raise RuntimeError("File not found or corrupted.")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", broken)
    with pytest.raises(DataError, match=r"the download failed \(RuntimeError: .*File not found or corrupted"):
        load_arrays("mnist", root=tmp_path, download=True)


def test_download_false_fails_without_trying_the_network(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def network(*args, **kwargs):
        raise AssertionError("download attempted although download=False")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", network)
    with pytest.raises(DataError, match="download=False") as info:
        load_arrays("mnist", root=tmp_path, download=False)
    assert "MNIST/raw/t10k-labels-idx1-ubyte" in str(info.value)


def test_a_real_dataset_is_never_replaced_by_synthetic_data(tmp_path):
    with pytest.raises(DataError):
        load_arrays("cifar100", root=tmp_path, download=False)


def test_an_interrupted_cache_write_leaves_no_file_behind(tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OSError):
        sources._write_cache(tmp_path / "mnist.npz", tiny_arrays("mnist"))
    assert list(tmp_path.iterdir()) == []


def test_provenance_hashes_the_file_that_was_used(tmp_path):
    np.savez_compressed(tmp_path / "mnist.npz", **tiny_arrays("mnist"))
    prov = data.dataset_provenance("mnist", root=tmp_path)
    assert prov["source"] == "npz cache" and prov["synthetic"] is False
    assert prov["file"] == "mnist.npz" and prov["size_bytes"] == (tmp_path / "mnist.npz").stat().st_size
    assert str(tmp_path) not in json.dumps(prov)  # no machine paths in results
    assert prov["sha256"] == hashlib.sha256((tmp_path / "mnist.npz").read_bytes()).hexdigest()
    syn = data.dataset_provenance("synthetic_cifar10")
    assert syn["synthetic"] is True and syn["sha256"] is None and syn["source"] == "synthetic"


# --------------------------------------------------------------------------------------
# Synthetic stand-ins
# --------------------------------------------------------------------------------------


def test_synthetic_datasets_match_their_specs_and_say_they_are_synthetic():
    for name in ("synthetic_mnist", "synthetic_fashion_mnist", "synthetic_cifar10", "synthetic_cifar100"):
        spec = DATASETS[name]
        arrays = load_arrays(name)
        assert data.check_arrays(arrays, spec)  # shapes, dtypes, label range
        assert arrays["x_train"].shape == (spec.n_train, *spec.image_shape)
        assert set(np.unique(arrays["y_train"])) == set(range(spec.num_classes))
        assert data.is_synthetic(name) and "synthetic" in spec.title.lower()
    assert not any(data.is_synthetic(n) for n in ("mnist", "fashion_mnist", "cifar10", "cifar100"))
    assert len({DATASETS[n].seed for n in DATASETS if DATASETS[n].synthetic}) == 4


def test_synthetic_data_is_deterministic_per_seed():
    a = make_synthetic(num_classes=5, image_size=32, channels=3, n_train=50, n_test=10, seed=7)
    assert_same_arrays(a, make_synthetic(num_classes=5, image_size=32, channels=3, n_train=50, n_test=10, seed=7))
    b = make_synthetic(num_classes=5, image_size=32, channels=3, n_train=50, n_test=10, seed=8)
    assert not np.array_equal(a["x_train"], b["x_train"])
    assert a["x_train"].shape == (50, 32, 32, 3) and a["x_train"].dtype == np.uint8


def test_synthetic_mnist_is_learnable_through_the_task_pipeline():
    """A linear classifier on the harmonised 3×32×32 inputs must beat chance (10 %) by far."""
    torch.manual_seed(0)
    ds = TaskDataset("synthetic_mnist", task_id=0, val_size=0, seed=0)
    model = torch.nn.Linear(3 * 32 * 32, ds.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(8):  # 8 × 12 = 96 steps
        for x, y in ds.train_batches(256, epoch=epoch):
            opt.zero_grad()
            F.cross_entropy(model(x.flatten(1)), y).backward()
            opt.step()
    with torch.no_grad():
        correct = sum((model(x.flatten(1)).argmax(1) == y).sum().item() for x, y in ds.eval_batches("test"))
    assert correct / ds.n_test > 0.6


# --------------------------------------------------------------------------------------
# TaskDataset
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grey() -> dict[str, np.ndarray]:
    return make_synthetic(num_classes=10, image_size=28, channels=1, n_train=300, n_test=60, seed=1)


@pytest.fixture(scope="module")
def rgb() -> dict[str, np.ndarray]:
    return make_synthetic(num_classes=10, image_size=32, channels=3, n_train=300, n_test=60, seed=2)


def content_keys(x: torch.Tensor) -> torch.Tensor:
    """One number per image (a random projection): equal multisets of keys = same images, any order."""
    w = torch.randn(x[0].numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (x.flatten(1).double() @ w).sort().values


def test_every_task_is_harmonised_to_3x32x32_float32_with_int64_labels(grey, rgb):
    for arrays in (grey, rgb):
        ds = TaskDataset(arrays, task_id=2, val_size=30, seed=0, name="custom")
        x, y = next(ds.train_batches(64))
        assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
        assert y.dtype == torch.int64
        xt, yt = ds.tensors("test")
        assert xt.shape == (60, 3, 32, 32) and yt.dtype == torch.int64
        assert (ds.n_train, ds.n_val, ds.n_test, len(ds)) == (270, 30, 60, 270)
        assert ds.task_id == 2 and ds.num_classes == 10
        assert ds.num_train_batches(64) == 5 == len(list(ds.train_batches(64)))


def test_grey_images_are_padded_into_the_exact_centre_and_repeated_over_rgb(grey):
    ds = TaskDataset(grey, task_id=0, val_size=0, name="synthetic_mnist")
    raw, _ = ds.raw("test")
    assert raw.shape == (60, 1, 32, 32)
    assert torch.equal(raw[:, 0, 2:30, 2:30], torch.from_numpy(grey["x_test"]))  # pixels untouched
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (raw[:, 0][:, border] == 0).all()
    x, _ = ds.tensors("test")
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    background = (0 - ds.mean[0]) / ds.std[0]  # a padded pixel is a normalised black pixel
    assert torch.allclose(x[:, :, 0, 0], background.expand(60, 3))


def test_normalisation_uses_the_training_subset_only(rgb):
    arrays = {**rgb, "x_test": (255 - rgb["x_test"]).astype(np.uint8)}  # a test set with other statistics
    ds = TaskDataset(arrays, task_id=0, n_train=200, val_size=50, augment=False, seed=3)
    x, _ = ds.tensors("train")
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    train_pixels = torch.from_numpy(rgb["x_train"][ds.train_index]).double() / 255
    assert torch.allclose(ds.mean.double(), train_pixels.mean(dim=(0, 1, 2)), atol=1e-6)
    assert not torch.allclose(ds.tensors("test")[0].mean(dim=(0, 2, 3)), torch.zeros(3), atol=0.1)


def test_half_normalisation_maps_every_dataset_to_minus_one_to_one_whatever_its_statistics(grey, rgb):
    """normalization="half" is torchvision's Normalize((0.5,), (0.5,)): pixel 0 → −1, 255 → 1, the same for every
    task (the original design's recipe), instead of each task's own training mean and std."""
    for arrays in (grey, rgb):
        ds = TaskDataset(arrays, task_id=0, val_size=30, augment=False, normalization="half", name="custom")
        raw, _ = ds.raw("train")
        x, _ = ds.tensors("train")
        expected = raw.double() / 127.5 - 1  # (p / 255 - 0.5) / 0.5
        assert torch.allclose(x.double(), expected.expand_as(x), atol=1e-6)
        assert ds.mean.tolist() == [0.5] * 3 and ds.std.tolist() == [0.5] * 3
        assert x.min() == -1.0  # the padding (grey) or the darkest pixel is black
        own = TaskDataset(arrays, task_id=0, val_size=30, augment=False, name="custom")
        assert not torch.allclose(own.tensors("train")[0], x, atol=0.1)  # the default is each task's own statistics
    with pytest.raises(ValueError, match="normalization must be one of 'dataset', 'half'"):
        TaskDataset(rgb, task_id=0, normalization="imagenet")


def test_eval_batches_are_deterministic_and_equal_tensors(rgb):
    ds = TaskDataset(rgb, task_id=0, val_size=40, seed=0)
    assert ds.augment  # RGB: augmentation on by default
    for split in ("train", "val", "test"):
        x_all, y_all = ds.tensors(split)
        batches = list(ds.eval_batches(split, batch_size=64))
        assert torch.equal(torch.cat([b[0] for b in batches]), x_all)
        assert torch.equal(torch.cat([b[1] for b in batches]), y_all)
        again = torch.cat([b[0] for b in ds.eval_batches(split, batch_size=17)])
        assert torch.equal(again, x_all)


def test_rgb_training_batches_are_augmented_and_differ_between_epochs(rgb):
    ds = TaskDataset(rgb, task_id=0, val_size=0, seed=0)
    n = ds.n_train
    x0, y0 = next(ds.train_batches(n, epoch=0))
    x0_again, _ = next(ds.train_batches(n, epoch=0))
    x1, _ = next(ds.train_batches(n, epoch=1))
    assert torch.equal(x0, x0_again)  # reproducible from (seed, epoch)
    assert not torch.equal(x0, x1)
    clean, y_clean = ds.tensors("train")
    assert not torch.equal(content_keys(x0), content_keys(clean))  # images were changed (crop/flip)
    assert torch.equal(y0.sort().values, y_clean.sort().values)  # ...but every example appears once
    assert x0.shape == clean.shape
    plain = TaskDataset(rgb, task_id=0, val_size=0, seed=0, augment=False)
    xp, _ = next(plain.train_batches(n, epoch=1))
    assert torch.allclose(content_keys(xp), content_keys(clean))


def test_augmentation_is_a_shifted_crop_or_flip_of_the_original():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).view(2, 3, 8, 8)
    out = data.augment_batch(images, torch.Generator().manual_seed(0), padding=2)
    padded = F.pad(images, (2, 2, 2, 2))
    for i in range(2):
        candidates = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in candidates)


def test_grey_training_batches_are_not_augmented_by_default(grey):
    ds = TaskDataset(grey, task_id=0, val_size=0, seed=0)
    assert not ds.augment
    x, y = next(ds.train_batches(ds.n_train, epoch=3))
    clean, y_clean = ds.tensors("train")
    assert torch.allclose(content_keys(x), content_keys(clean))  # a permutation of the clean images
    assert not torch.equal(y, y_clean)  # ...in shuffled order


def test_stratified_subset_and_disjoint_validation_split(rgb):
    ds = TaskDataset(rgb, task_id=0, n_train=100, val_size=50, seed=5)
    y_pool = rgb["y_train"]
    assert np.bincount(y_pool[ds.train_index], minlength=10).tolist() == [10] * 10
    assert np.bincount(y_pool[ds.val_index], minlength=10).tolist() == [5] * 10
    assert not set(ds.train_index) & set(ds.val_index)  # disjoint sample ids
    assert torch.equal(ds.raw("val")[0], torch.from_numpy(rgb["x_train"][ds.val_index]).permute(0, 3, 1, 2))
    assert torch.equal(ds.raw("test")[0], torch.from_numpy(rgb["x_test"]).permute(0, 3, 1, 2))  # test untouched
    odd = TaskDataset(rgb, task_id=0, n_train=53, val_size=0, seed=5)
    assert set(np.bincount(y_pool[odd.train_index], minlength=10)) <= {5, 6} and odd.n_train == 53
    other = TaskDataset(rgb, task_id=0, n_train=100, val_size=50, seed=6)
    assert not np.array_equal(other.train_index, ds.train_index)  # the subset is seeded


def test_val_size_fraction_count_and_zero(grey):
    assert TaskDataset(grey, 0, val_size=0.1).n_val == 30
    assert TaskDataset(grey, 0, val_size=0.1, n_train=90).n_val == 10  # 10 % of train + val
    assert TaskDataset(grey, 0, val_size=7).n_val == 7
    empty = TaskDataset(grey, 0, val_size=0)
    assert empty.n_val == 0 and empty.n_train == 300 and list(empty.eval_batches("val")) == []


def test_named_source_is_loaded_from_the_root(tmp_path):
    np.savez_compressed(tmp_path / "mnist.npz", **tiny_arrays("mnist", n_train=60))
    ds = TaskDataset("mnist", task_id=1, root=tmp_path, val_size=10, download=False)
    assert (ds.name, ds.title, ds.synthetic, ds.n_train, ds.n_val) == ("mnist", "MNIST", False, 50, 10)


def test_synthetic_tasks_are_labelled_as_such():
    ds = TaskDataset(load_arrays("synthetic_cifar10"), task_id=0, name="synthetic_cifar10", n_train=100, val_size=0)
    assert ds.synthetic and "synthetic" in ds.title.lower()
    assert "SYNTHETIC" in repr(ds) and "SYNTHETIC" in data.describe(ds)
    real_named = TaskDataset(tiny_arrays("mnist"), task_id=0, name="mnist", val_size=0)
    assert not real_named.synthetic and "SYNTHETIC" not in data.describe(real_named)


@pytest.mark.parametrize("change, kwargs, match", [
    (lambda a: {**a, "x_train": a["x_train"].astype(np.float32)}, {}, "uint8"),
    (lambda a: {**a, "y_train": a["y_train"][:-1]}, {}, "labels"),
    (lambda a: {**a, "x_test": a["x_test"][:, :, :20]}, {}, "differ in shape"),
    (lambda a: {**a, "y_train": a["y_train"] + 5}, {"name": "mnist"}, "10 classes"),
    (lambda a: {k: v for k, v in a.items() if k != "x_test"}, {}, "x_test"),
    (lambda a: a, {"n_train": 301}, "only 300"),
    (lambda a: a, {"n_train": 290, "val_size": 20}, "only 300"),
    (lambda a: a, {"val_size": 1.5}, "val_size"),
    (lambda a: a, {"image_size": 24}, "never shrunk"),
    (lambda a: a, {"channels": 2}, "channels"),
])
def test_bad_inputs_are_clear_value_errors(grey, change, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskDataset(change(grey), task_id=0, **kwargs)


def test_rgb_source_cannot_be_squeezed_into_one_channel(rgb):
    with pytest.raises(ValueError, match="RGB"):
        TaskDataset(rgb, task_id=0, channels=1)


def test_bad_batch_sizes_and_splits_fail_immediately(grey):
    ds = TaskDataset(grey, task_id=0, val_size=10)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            ds.train_batches(bad)
        with pytest.raises(ValueError, match="batch_size"):
            ds.eval_batches("test", bad)
    with pytest.raises(ValueError, match="'val', 'test'"):
        ds.eval_batches("validation")
    with pytest.raises(ValueError, match="unknown split"):
        ds.tensors("dev")


# --------------------------------------------------------------------------------------
# TaskDataset is a torch.utils.data.Dataset
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_round_trip_equals_the_batched_path(num_workers):
    from torch.utils.data import DataLoader, Dataset

    ds = TaskDataset("synthetic_cifar10", task_id=0, n_train=200, val_size=50, seed=0)
    assert isinstance(ds, Dataset) and len(ds) == 200
    image, label = ds[3]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32) and isinstance(label, int)
    x, y = ds.tensors("train")  # the engine's batched path, not augmented
    got = [b for b in DataLoader(ds, batch_size=64, shuffle=False, num_workers=num_workers)]
    assert torch.equal(torch.cat([b[0] for b in got]), x) and torch.equal(torch.cat([b[1] for b in got]), y)
    shuffled = DataLoader(ds, batch_size=64, shuffle=True, num_workers=num_workers,
                          generator=torch.Generator().manual_seed(0))
    assert sum(len(b[1]) for b in shuffled) == 200


def test_splits_are_datasets_of_the_same_kind_and_indexing_is_checked():
    ds = TaskDataset("synthetic_mnist", task_id=0, n_train=100, val_size=30, seed=0)
    for name, n in (("train", 100), ("val", 30), ("test", ds.n_test)):
        part = ds.split(name)
        assert len(part) == n
        x, y = ds.tensors(name)
        assert torch.equal(part[0][0], x[0]) and part[-1][1] == int(y[-1])
        assert part[0][0].shape == (3, 32, 32)  # grey images arrive as 3 channels, like the batches
    with pytest.raises(IndexError, match="out of range for the train split"):
        ds[100]
    with pytest.raises(TypeError):
        ds[1.5]
    with pytest.raises(ValueError, match="unknown split"):
        ds.split("validation")


def test_torchvision_dataset_objects_as_source(tmp_path):
    from torchvision.datasets import MNIST

    arrays = tiny_arrays("mnist", n_train=60, n_test=20)
    write_mnist_files(tmp_path, "mnist", arrays)
    train, test = MNIST(str(tmp_path), train=True), MNIST(str(tmp_path), train=False)
    ds = TaskDataset((train, test), task_id=0, val_size=10, seed=1)
    assert ds.name == "mnist" and ds.title == "MNIST" and ds.num_classes == 10
    same = TaskDataset(arrays, task_id=0, val_size=10, seed=1, name="mnist")
    for split in ("train", "val", "test"):
        assert all(torch.equal(a, b) for a, b in zip(ds.tensors(split), same.tensors(split)))
    with pytest.raises(ValueError, match=r"\(MNIST\(…, train=True\), MNIST\(…, train=False\)\)"):
        TaskDataset(train, task_id=0)


def test_any_object_with_data_and_targets_is_a_source():
    from types import SimpleNamespace

    arrays = make_synthetic(3, 28, 1, 90, 30, seed=5)
    train = SimpleNamespace(data=torch.from_numpy(arrays["x_train"]), targets=arrays["y_train"].tolist())
    test = SimpleNamespace(data=arrays["x_test"], targets=torch.from_numpy(arrays["y_test"]))
    ds = TaskDataset((train, test), task_id=2, val_size=0, seed=0, name="my_task")
    assert ds.name == "my_task" and ds.num_classes == 3 and ds.n_train == 90 and ds.n_test == 30
    with pytest.raises(ValueError, match="no .data and .targets"):
        TaskDataset((train, object()), task_id=0)


def test_an_installed_package_looks_for_data_under_the_working_folder(tmp_path):
    """Outside a source checkout (pip install, Colab) the default root is ./data, never site-packages."""
    import shutil

    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "synapticnet", site / "synapticnet", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SYNAPTICNET_DATA"} | {"PYTHONPATH": str(site)}
    code = "import synapticnet.data as d, synapticnet; print(d.default_root()); print(synapticnet.__file__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=work, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    root, package = result.stdout.split()
    assert Path(package).is_relative_to(site)  # the copy was imported, not the checkout
    assert Path(root) == work / "data"


# --------------------------------------------------------------------------------------
# Provenance: a content hash for every data source
# --------------------------------------------------------------------------------------


def one_pixel_changed(arrays: dict[str, np.ndarray], key: str = "x_train") -> dict[str, np.ndarray]:
    x = arrays[key].copy()
    x.flat[123] ^= 1
    return {**arrays, key: x}


def test_sha256_arrays_sees_one_pixel_dtype_and_shape():
    a = tiny_arrays("mnist")
    assert data.sha256_arrays(a) == data.sha256_arrays({k: v.copy() for k, v in a.items()})
    assert data.sha256_arrays(a) != data.sha256_arrays(one_pixel_changed(a))
    assert data.sha256_arrays({"y": np.arange(4)}) != data.sha256_arrays({"y": np.arange(4, dtype=np.int32)})
    assert data.sha256_arrays({"x": np.zeros((2, 3))}) != data.sha256_arrays({"x": np.zeros((3, 2))})
    assert data.sha256_arrays({"x": torch.arange(5)}) == data.sha256_arrays({"x": np.arange(5)})


@pytest.mark.parametrize("key", ["x_train", "x_test"])
def test_one_changed_pixel_changes_the_task_fingerprint_and_its_record(grey, key):
    """A run records each task's sha256; a resume on changed images must see another one."""
    a = TaskDataset(grey, task_id=0, n_train=200, val_size=20, seed=0, name="custom")
    copy = {k: v.copy() for k, v in grey.items()}
    same = TaskDataset(copy, task_id=0, n_train=200, val_size=20, seed=0, name="custom")
    if key == "x_train":  # change a pixel of an image that is in the training subset
        x = grey["x_train"].copy()
        x[a.train_index[0], 14, 14] ^= 1
        changed = {**grey, "x_train": x}
    else:
        changed = one_pixel_changed(grey, "x_test")
    b = TaskDataset(changed, task_id=0, n_train=200, val_size=20, seed=0, name="custom")
    ra, rsame, rb = (data.data_record(d) for d in (a, same, b))
    assert ra["sha256"] == rsame["sha256"] == a.fingerprint and len(ra["sha256"]) == 64
    assert rb["sha256"] != ra["sha256"]
    assert ra["source"] == "TaskDataset passed in" and (ra["n_train"], ra["n_val"]) == (200, 20)
    other_subset = TaskDataset(grey, task_id=0, n_train=200, val_size=20, seed=1, name="custom")
    assert other_subset.fingerprint != a.fingerprint  # the data the task uses, not just the source


def test_data_record_always_has_the_content_hash_and_keeps_the_file_hash(tmp_path):
    np.savez_compressed(tmp_path / "mnist.npz", **tiny_arrays("mnist", n_train=60))
    ds = TaskDataset("mnist", task_id=0, root=tmp_path, val_size=10, download=False)
    record = data.data_record(ds, tmp_path)
    assert record["file_sha256"] == hashlib.sha256((tmp_path / "mnist.npz").read_bytes()).hexdigest()
    assert record["sha256"] == ds.fingerprint != record["file_sha256"]
    assert record["source"] == "npz cache" and record["n_train"] == 50 and str(tmp_path) not in json.dumps(record)
    syn = TaskDataset("synthetic_mnist", task_id=0, n_train=100, val_size=0)
    assert data.data_record(syn)["sha256"] == syn.fingerprint and data.data_record(syn)["source"] == "synthetic"
    assert syn.fingerprint is syn.fingerprint  # hashed once, then remembered


def test_provenance_hashes_torchvision_files_when_there_is_no_cache(tmp_path):
    write_mnist_files(tmp_path, "mnist", tiny_arrays("mnist"))
    prov = data.dataset_provenance("mnist", root=tmp_path)
    files = list(DATASETS["mnist"].torchvision_files)
    listing = "".join(f"{hashlib.sha256((tmp_path / f).read_bytes()).hexdigest()}  {f}\n" for f in files)
    assert prov["source"] == "torchvision files" and prov["files"] == files
    assert prov["sha256"] == hashlib.sha256(listing.encode()).hexdigest()  # = sha256sum <files> | sha256sum
    raw = tmp_path / files[0]
    blob = bytearray(raw.read_bytes())
    blob[-1] ^= 1
    raw.write_bytes(bytes(blob))
    assert data.dataset_provenance("mnist", root=tmp_path)["sha256"] != prov["sha256"]


# --------------------------------------------------------------------------------------
# Custom arrays: classes and images that cannot make a meaningful task
# --------------------------------------------------------------------------------------


def test_test_classes_without_training_examples_are_a_one_line_value_error(grey):
    arrays = {**grey, "y_test": np.where(grey["y_test"] == 9, 10, grey["y_test"])}  # class 10 exists only in test
    with pytest.raises(ValueError, match=r"y_test has class\(es\) 10 that never occur in y_train") as info:
        TaskDataset(arrays, task_id=0, val_size=0, name="my_digits")
    assert "\n" not in str(info.value)
    keep = grey["y_train"] < 5  # classes 5…9 only in test
    fewer = {**grey, "x_train": grey["x_train"][keep], "y_train": grey["y_train"][keep]}
    with pytest.raises(ValueError, match=r"class\(es\) 5, 6, 7, 8, 9 that never occur") as info:
        TaskDataset(fewer, task_id=0, val_size=0)
    assert "\n" not in str(info.value)
    assert TaskDataset(grey, task_id=0, val_size=0).num_classes == 10  # test ⊆ train: fine


@pytest.mark.parametrize("images", ["zeros", "one_image_repeated"])
def test_identical_training_images_warn_naming_the_task(grey, images):
    first = grey["x_train"][:1]
    x = np.zeros_like(grey["x_train"]) if images == "zeros" else np.repeat(first, len(grey["x_train"]), axis=0)
    with pytest.warns(UserWarning, match=r"task 3 \('flat'\): all 300 training images are identical"):
        TaskDataset({**grey, "x_train": x}, task_id=3, val_size=0, name="flat")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ordinary images: no warning
        TaskDataset(grey, task_id=3, val_size=0, name="fine")


def test_n_test_evaluates_on_a_stratified_test_subset():
    arrays = make_synthetic(num_classes=10, image_size=32, channels=3, n_train=200, n_test=200, seed=0)
    full = TaskDataset(arrays, 0, val_size=0.1)
    part = TaskDataset(arrays, 0, val_size=0.1, n_test=50)
    assert part.n_test == 50 < full.n_test and part.n_train == full.n_train
    labels = part.tensors("test")[1]
    assert torch.bincount(labels, minlength=10).tolist() == [5] * 10  # stratified: five per class
    again = TaskDataset(arrays, 0, val_size=0.1, n_test=50)
    assert torch.equal(again.tensors("test")[0], part.tensors("test")[0])  # seeded
    assert TaskDataset(arrays, 0, n_test=10**6).n_test == full.n_test  # more than there are: all
