"""Related-task streams on the synthetic stand-ins: names, label remapping, permutations, runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synapticnet import data as data_lib
from synapticnet.data import tasks as tasks_module
from synapticnet.__main__ import main
from synapticnet.data import DataError, load_arrays
from synapticnet.profiles import SMOKE, family
from synapticnet.run import check_tasks, load_task_data, run_sequence, split_available

# Tiny: a run of five tasks in a few seconds (the numbers are not the point here).
TINY = SMOKE.replace(conv_channels=(4, 8, 8), hidden=(16,), growth={"default": ((2, 4, 4), (8,))},
                     epochs={"default": 1}, n_train=40, val_size=10, batch_size=20, max_steps_per_task=2)
# Whole tasks, no validation split: for comparing a task's examples with its base dataset.
ALL = SMOKE.replace(n_train=None, val_size=0)


@pytest.fixture(scope="module")
def base() -> dict[str, dict[str, np.ndarray]]:
    return {name: load_arrays(name) for name in ("synthetic_mnist", "synthetic_cifar10", "synthetic_cifar100")}


# ---- names ---------------------------------------------------------------------------


def test_stream_names_expand_to_their_tasks():
    assert check_tasks("synthetic_split_cifar10") == [f"synthetic_split_cifar10/{i}" for i in range(5)]
    assert check_tasks(["split_cifar100"]) == [f"split_cifar100/{i}" for i in range(10)]
    assert check_tasks("permuted_mnist") == [f"permuted_mnist/{i}" for i in range(5)]
    assert check_tasks("permuted_mnist:3") == ["permuted_mnist/0", "permuted_mnist/1", "permuted_mnist/2"]
    assert len(check_tasks("permuted_mnist:10")) == 10
    assert check_tasks("mnist,split_cifar10") == ["mnist"] + [f"split_cifar10/{i}" for i in range(5)]
    assert check_tasks(["split_cifar10/3", "synthetic_mnist", "permuted_mnist/7"]) == [
        "split_cifar10/3", "synthetic_mnist", "permuted_mnist/7"]
    assert len(data_lib.expand_tasks(["permuted_mnist:4"])) == 4
    assert data_lib.expand_tasks(["split_mnist/1"]) == ["split_mnist/1"]
    assert data_lib.stream_task("split_mnist/1") is not None and data_lib.stream_task("mnist") is None


@pytest.mark.parametrize("tasks, message", [
    ("split_cifar11", "unknown task"),
    ("mnist,imagenet", "unknown task"),
    ("split_mnist/5", "split_mnist/0 … split_mnist/4"),
    ("split_mnist/01", "unknown task"),
    ("split_mnist:3", "only permuted streams take a task count"),
    ("permuted_mnist:0", "at least one task"),
    ("split_mnist,split_mnist/2", "once"),
])
def test_bad_task_lists_are_clear_value_errors(tasks, message):
    with pytest.raises(ValueError, match=message) as info:
        check_tasks(tasks)
    if message == "unknown task":  # the message lists what *is* known: datasets and streams
        for known in ("cifar10", "synthetic_mnist", "split_mnist", "split_cifar100", "permuted_mnist"):
            assert known in str(info.value)


def test_cli_names_the_streams_for_an_unknown_task(tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--out", str(tmp_path), "--quiet", "--tasks", "split_imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "split_cifar10" in err and "permuted_mnist" in err


def test_stream_tasks_belong_to_their_base_family():
    assert family("split_cifar10/3") == "cifar10"
    assert family("synthetic_split_cifar10/3") == "cifar10"
    assert family("permuted_mnist/2") == "mnist"
    assert family("synthetic_permuted_mnist/2") == "mnist"
    assert family("split_cifar100/4") == "cifar100"
    assert family("synthetic_cifar10") == "cifar10" and family("conflict_a") == "conflict_a"
    assert SMOKE.replace(epochs={"default": 1, "cifar10": 7}).epochs_for("split_cifar10/3") == 7


# ---- split streams: classes and labels -----------------------------------------------


@pytest.mark.parametrize("stream, base_name, tasks, k", [
    ("synthetic_split_mnist", "synthetic_mnist", 5, 2),
    ("synthetic_split_cifar10", "synthetic_cifar10", 5, 2),
    ("synthetic_split_cifar100", "synthetic_cifar100", 10, 10),
])
def test_split_tasks_hold_exactly_their_classes_relabelled(base, stream, base_name, tasks, k):
    src = base[base_name]
    names = check_tasks(stream)
    assert len(names) == tasks
    datasets = load_task_data(names, ALL, None, 0)
    for i, (name, ds) in enumerate(zip(names, datasets)):
        classes = list(range(i * k, (i + 1) * k))
        assert data_lib.stream_task(name).classes == tuple(classes)
        arrays = data_lib.task_arrays(name, src)
        for split in ("train", "test"):
            keep = np.isin(src[f"y_{split}"], classes)  # the base dataset's examples of these classes, in order
            np.testing.assert_array_equal(arrays[f"x_{split}"], src[f"x_{split}"][keep])
            np.testing.assert_array_equal(arrays[f"y_{split}"], src[f"y_{split}"][keep] - i * k)
            assert set(np.unique(arrays[f"y_{split}"])) == set(range(k))
        assert ds.name == name and ds.num_classes == k and ds.synthetic
        assert ds.n_test == int(np.isin(src["y_test"], classes).sum())
        assert set(ds.raw("train")[1].tolist()) == set(range(k))


def test_stream_arrays_never_change_the_base_arrays(base):
    src = {key: value.copy() for key, value in base["synthetic_mnist"].items()}
    data_lib.task_arrays("synthetic_split_mnist/1", src)
    data_lib.task_arrays("synthetic_permuted_mnist/3", src)
    for key in src:
        np.testing.assert_array_equal(src[key], base["synthetic_mnist"][key])


# ---- permuted MNIST ------------------------------------------------------------------


def test_permutations_are_seeded_distinct_and_keep_every_pixel(base):
    np.testing.assert_array_equal(data_lib.permutation(2), data_lib.permutation(2))
    perms = [data_lib.permutation(k) for k in range(1, 6)]
    assert all(sorted(p.tolist()) == list(range(784)) for p in perms)
    assert len({p.tobytes() for p in perms}) == 5 and not any(np.array_equal(p, np.arange(784)) for p in perms)

    src = base["synthetic_mnist"]
    names = check_tasks("synthetic_permuted_mnist:4")
    tasks = [data_lib.task_arrays(n, src) for n in names]
    for key in data_lib.ARRAY_KEYS:  # task 0 is the original dataset
        np.testing.assert_array_equal(tasks[0][key], src[key])
    for k, arrays in enumerate(tasks[1:], start=1):
        order = data_lib.permutation(k)
        for split in ("train", "test"):  # one permutation for both splits, labels unchanged
            x, x0 = arrays[f"x_{split}"].reshape(len(src[f"x_{split}"]), -1), src[f"x_{split}"].reshape(
                len(src[f"x_{split}"]), -1)
            np.testing.assert_array_equal(x, x0[:, order])
            np.testing.assert_array_equal(np.sort(x, axis=1), np.sort(x0, axis=1))  # same pixel values per image
            np.testing.assert_array_equal(arrays[f"y_{split}"], src[f"y_{split}"])
    images = [t["x_train"].tobytes() for t in tasks]
    assert len(set(images)) == len(images)  # every task shows the digits differently


# ---- titles, provenance, missing data ------------------------------------------------


def test_titles_name_the_classes_and_say_when_data_is_synthetic():
    assert data_lib.stream_task("split_cifar10/1").title == "Split CIFAR-10 task 1: bird/cat"
    assert data_lib.stream_task("split_mnist/0").title == "Split MNIST task 0: 0/1"
    assert data_lib.stream_task("permuted_mnist/2").title == "Permuted MNIST task 2 (pixel permutation seed 2)"
    assert data_lib.stream_task("split_cifar100/0").title.endswith(
        "apple/aquarium_fish/baby/bear/beaver/bed/bee/beetle/bicycle/bottle")
    assert data_lib.stream_task("split_cifar100/9").class_names[-1] == "worm"
    assert len(data_lib.CLASS_NAMES["cifar100"]) == len(set(data_lib.CLASS_NAMES["cifar100"])) == 100
    ds = load_task_data(["synthetic_split_cifar10/1", "synthetic_permuted_mnist/2"], TINY, None, 0)
    assert ds[0].title == "Synthetic Split CIFAR-10-like task 1: classes 2/3 (not real data)"
    assert "seed 2" in ds[1].title and "not real data" in ds[1].title
    assert all(d.synthetic for d in ds)


def test_provenance_names_stream_task_and_classes_or_seed():
    load_task_data(["synthetic_split_cifar10/3"], TINY, None, 0)
    p = data_lib.task_provenance("synthetic_split_cifar10/3")
    assert p["name"] == "synthetic_split_cifar10/3" and p["stream"] == "synthetic_split_cifar10" and p["task"] == 3
    assert p["classes"] == [6, 7] and p["dataset"] == "synthetic_cifar10" and p["synthetic"] is True
    assert p["source"] == "synthetic" and p["seed"] == data_lib.DATASETS["synthetic_cifar10"].seed
    assert data_lib.task_provenance("synthetic_permuted_mnist/2")["permutation_seed"] == 2
    assert data_lib.task_provenance("synthetic_permuted_mnist/0")["permutation_seed"] is None
    assert data_lib.task_provenance("synthetic_mnist") == data_lib.dataset_provenance("synthetic_mnist")
    d = load_task_data(["synthetic_split_mnist/4"], TINY, None, 0)[0]
    b = data_lib.data_record(d, None)
    assert b["stream"] == "synthetic_split_mnist" and b["classes"] == [8, 9] and b["n_train"] == d.n_train


def test_a_missing_base_dataset_is_the_same_data_error(tmp_path):
    empty = tmp_path / "empty"
    with pytest.raises(DataError) as plain:
        load_arrays("cifar100", root=empty, download=False)
    with pytest.raises(DataError) as stream:
        load_task_data(["split_cifar100/2"], TINY, empty, 0, download=False)
    assert str(stream.value) == str(plain.value)
    available, missing = split_available("synthetic_mnist,split_cifar100", root=empty, download=False)
    assert available == ["synthetic_mnist"] and list(missing) == [f"split_cifar100/{i}" for i in range(10)]
    assert all("cifar100" in reason for reason in missing.values())


def test_each_base_dataset_is_loaded_once_per_call(monkeypatch):
    calls = []
    real = data_lib.load_arrays
    monkeypatch.setattr(tasks_module, "load_arrays", lambda name, *a, **k: calls.append(name) or real(name, *a, **k))
    datasets = load_task_data(["synthetic_split_mnist", "synthetic_mnist", "synthetic_permuted_mnist:2"], TINY, None, 0)
    assert len(datasets) == 8 and calls == ["synthetic_mnist"]


# ---- learning ------------------------------------------------------------------------


def test_synthetic_split_tasks_are_learnable_by_a_linear_classifier():
    datasets = load_task_data(["synthetic_split_cifar10"], ALL, None, 0)
    for d in datasets:  # nearest class mean: a linear classifier without any optimisation
        (x, y), (xt, yt) = d.tensors("train"), d.tensors("test")
        x, xt = x.flatten(1).double(), xt.flatten(1).double()
        means = torch.stack([x[y == c].mean(0) for c in range(d.num_classes)])
        accuracy = (torch.cdist(xt, means).argmin(1) == yt).double().mean().item()
        assert accuracy > 0.8, f"{d.name}: {accuracy:.3f} (chance 0.5)"
    d = datasets[1]  # and logistic regression, a few steps of full-batch gradient descent
    (x, y), (xt, yt) = d.tensors("train"), d.tensors("test")
    x, xt = x.flatten(1).double(), xt.flatten(1).double()
    w = torch.zeros(x.shape[1], 2, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.01)
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(x @ w, y).backward()
        optimizer.step()
    accuracy = ((xt @ w).argmax(1) == yt).double().mean().item()
    assert accuracy > 0.8, f"{d.name}: {accuracy:.3f} (chance 0.5)"


def test_run_sequence_on_a_stream_writes_tasks_titles_and_provenance(tmp_path):
    results = run_sequence(["synthetic_split_cifar10"], profile=TINY, out_dir=tmp_path, progress=False, device="cpu")
    names = [f"synthetic_split_cifar10/{i}" for i in range(5)]
    assert results["complete"] and results["tasks"] == names and results["num_classes"] == [2] * 5
    assert results["task_titles"][1] == "Synthetic Split CIFAR-10-like task 1: classes 2/3 (not real data)"
    assert len(results["accuracy_matrix"]) == 5 and results["synthetic_data"] is True
    assert [p["stream"] for p in results["data"]] == ["synthetic_split_cifar10"] * 5
    assert [p["classes"] for p in results["data"]] == [[2 * i, 2 * i + 1] for i in range(5)]
    assert [p["name"] for p in results["data"]] == names


# ---- limits and the smoke profile -----------------------------------------------------


def test_a_huge_permuted_stream_is_refused_before_any_work(tmp_path, capsys):
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"at most 100 \(MAX_PERMUTED_TASKS\)"):
        check_tasks("permuted_mnist:100000")
    assert len(check_tasks("synthetic_permuted_mnist:100")) == data_lib.MAX_PERMUTED_TASKS == 100
    args = ["run", "--profile", "smoke", "--out", str(tmp_path), "--quiet", "--tasks", "permuted_mnist:100000"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "at most 100" in err and "Traceback" not in err
    assert time.perf_counter() - start < 10  # seconds, not minutes (most of it is importing the CLI)


@pytest.mark.parametrize("stream", ["synthetic_split_mnist", "synthetic_split_cifar10", "synthetic_permuted_mnist",
                                    "synthetic_split_cifar100"])
def test_every_synthetic_stream_builds_under_the_smoke_profile(stream):
    assert (SMOKE.n_train, SMOKE.val_size) == (600, 100)
    names = check_tasks(stream)
    datasets = load_task_data(names, SMOKE, None, 0)
    for name, d in zip(names, datasets):
        pool = len(data_lib.task_arrays(name, load_arrays(data_lib.base_dataset(name)))["y_train"])
        assert d.n_val == 100 and d.n_train == min(600, pool - 100), (name, pool)
        assert data_lib.data_record(d)["n_train"] == d.n_train


def test_n_train_is_capped_for_synthetic_data_only(tmp_path):
    assert data_lib.fit_n_train(600, 600, 100) == 500 and data_lib.fit_n_train(3000, 600, 100) == 600
    assert data_lib.fit_n_train(600, 600, 0.05) == 570  # 570 + round(0.05 * 570 / 0.95) = 600
    assert data_lib.fit_n_train(600, None, 100) is None and data_lib.fit_n_train(50, 600, 100) == 600  # nothing fits
    d = data_lib.task_dataset("synthetic_split_mnist/2", 0, n_train=10_000, val_size=0.1)
    assert d.n_train + d.n_val == 600 and d.n_val == 60
    arrays = data_lib.make_synthetic(10, 28, 1, 60, 20, seed=0)
    np.savez_compressed(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match="only 60"):  # real data: never silently fewer examples
        data_lib.task_dataset("mnist", 0, root=tmp_path, download=False, n_train=100, val_size=10)


def test_when_no_dataset_can_be_loaded_split_available_says_so_in_one_line(tmp_path):
    """Notebook 03 with no data: one line naming every dataset and why, not an empty figure further on."""
    empty = tmp_path / "empty"
    with pytest.raises(ValueError) as error:
        split_available(["mnist", "split_cifar10", "fashion_mnist"], root=empty, download=False)
    message = str(error.value)
    assert message.startswith("no dataset could be loaded: ") and "\n" not in message
    assert all(f"cannot load dataset '{name}'" in message for name in ("mnist", "cifar10", "fashion_mnist"))
    assert "SYNAPTICNET_SMOKE=1" in message
    with pytest.raises(ValueError, match="^no dataset could be loaded: the task list is empty"):
        load_task_data([], TINY, empty, 0, download=False)
