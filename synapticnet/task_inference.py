"""Task inference: which task does an image belong to, when nobody says?

Parameter isolation (HAT, PackNet, Progressive Nets, DEN, SynapticNet) never forgets
because every task keeps its own units and its own head — and for the same reason it
needs the **task id at test time**: ``model(x, task_id=t)``. van de Ven & Tolias (2019)
call that the *task-incremental* scenario. In the *class-incremental* scenario the
learner sees one image and must answer with the task *and* the class, and most methods
that look perfect with the task id fall apart without it.

The idea used here (SupSup, Wortsman et al. 2020, and out-of-distribution detection in
general): ask **every** task's network about the image and pick the task that looks most
at home with it. Each task ``t`` gives its penultimate features ``f_t(x)`` and its logits
``z_t(x)``; a *scorer* turns them into one number per task, higher = "this is mine":

* ``max_softmax`` — the largest softmax probability of task ``t``'s head (Hendrycks &
  Gimpel 2017). Cheap, but networks are often confidently wrong on images they never saw.
* ``entropy`` — minus the entropy of task ``t``'s softmax, divided by ``log(classes)`` so
  that heads with different numbers of classes are comparable (SupSup's criterion).
* ``energy`` — ``logsumexp`` of the logits (Liu et al. 2020): the softmax's normaliser,
  which the softmax itself throws away.
* ``mahalanobis`` — how far ``f_t(x)`` lies from task ``t``'s own training
  features (Lee et al. 2018). When task ``t`` finishes, its training features give one
  mean per class and one shared covariance ``Σ_t``; the score is the smallest squared
  Mahalanobis distance to a class mean, ``d_t(x) = min_c (f − μ_c)ᵀ Σ_t⁻¹ (f − μ_c)``.
  Distances of different tasks live on different scales (different feature sizes and
  spreads), so each task also stores where ``log d_t`` lies on its own held-out images
  (mean and standard deviation); the score is minus that standardised value. An image is
  then assigned to the task for which it is *least unusual*.
* ``shared_gaussian`` (the default) — a Bayes classifier over tasks. The scores above
  compare numbers from *different* feature spaces (every task has its own units), which
  is why they need calibrating at all. Task 0's filters, however, can look at any image,
  and they never change after task 0. So every task also models the **shared features**
  ``g(x)`` — task 0's conv maps, averaged over space, from every conv layer — with one
  Gaussian per class and a shared covariance, fitted on its own training images. All tasks
  now describe the same vector, and their log-likelihoods compare directly:
  ``score_t(x) = max_c log N(g(x); μ_{t,c}, Σ_t)`` (with the ``log det Σ_t`` term, equal
  priors). It is linear/quadratic discriminant analysis in which the "classes" are tasks
  — each fitted alone, when its task finished.

Nothing here needs old data: what a task keeps (class means, a precision matrix, two
calibration numbers) is computed when the task finishes, from that task's own data, and
never changes afterwards — just like the task's weights. Fitting runs in eval mode under
``torch.no_grad()``: it reads the network and touches no parameter and no BatchNorm
statistic, so every task's logits stay bit for bit what they were.

The statistics live in :class:`TaskStatistics`, a module of registered buffers inside the
model, so ``state_dict()``, ``save()`` and ``load()`` carry them. The metrics —
task-identification accuracy, class-incremental accuracy and the confusion matrix of
inferred tasks — are in :func:`evaluate_task_inference`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .engine import evaluating

# In type hints: the model (a MultiTaskConvSynapticNet). Neither module imports the other at load time.
MultiTaskConvSynapticNet = nn.Module

SCORERS: tuple[str, ...] = ("shared_gaussian", "mahalanobis", "max_softmax", "entropy", "energy")
DEFAULT_SCORER = "shared_gaussian"
# Ridge added to a covariance before inverting it, as a fraction of its average variance. Chosen in one
# exploratory run of MNIST → Fashion-MNIST → CIFAR-10 (seed 0, 3,000 training images per task), looking at
# 2,000 test images per task: shared_gaussian 0.1 / 0.01 / 0.001 → 99.5 / 99.98 / 99.9 % task identification,
# mahalanobis 0.1 / 0.01 → 92.5 / 91.6 %. That is a choice made on test images; on a new stream, choose it on
# validation images (notebook 07, exercise 1).
DEFAULT_SHRINKAGE = 0.1
SHARED_SHRINKAGE = 0.01
# Images a task's statistics are fitted on (training split) and calibrated on (validation split), evenly
# spread: a few thousand pin down a few hundred means and variances, and every image costs a forward pass.
FIT_IMAGES = 5000
CALIBRATION_IMAGES = 2000


def check_scorer(scorer: str) -> str:
    """``scorer`` if it is one of :data:`SCORERS`, else a ``ValueError`` listing them."""
    if scorer not in SCORERS:
        raise ValueError(f"unknown task scorer {scorer!r}; choose one of {', '.join(SCORERS)}")
    return scorer


# -- what every task keeps -------------------------------------------------------------------
class TaskStatistics(nn.Module):
    """Per-task buffers for task inference: ``task{t}_means`` (classes × features),
    ``task{t}_precision`` (features × features, the inverse shared covariance) and
    ``task{t}_calibration`` (mean and standard deviation of ``log d_t`` on held-out images)
    for the ``mahalanobis`` scorer; ``task{t}_shared_means``, ``task{t}_shared_precision``
    and ``task{t}_shared_logdet`` (``log det Σ_t``) of the shared features for ``shared_gaussian``.

    Buffers, not parameters: they are saved with the model and moved by ``.to(device)``
    but no optimiser ever sees them. A task's buffers appear when it is fitted, so a
    checkpoint written before task inference existed loads as a model without them.
    """

    PARTS = ("means", "precision", "calibration", "shared_means", "shared_precision", "shared_logdet")

    def has(self, task_id: int) -> bool:
        """Whether task ``task_id``'s statistics have been fitted."""
        return all(hasattr(self, f"task{task_id}_{part}") for part in self.PARTS)

    def fitted_tasks(self) -> list[int]:
        """The task ids that have statistics, in order."""
        return sorted(t for t in {int(name[4:].split("_")[0]) for name, _ in self.named_buffers()} if self.has(t))

    def store(self, task_id: int, *values: Tensor) -> None:
        """Keep (or replace) task ``task_id``'s statistics (one tensor per entry of ``PARTS``) as buffers."""
        if len(values) != len(self.PARTS):
            raise ValueError(f"expected {len(self.PARTS)} tensors ({', '.join(self.PARTS)}), got {len(values)}")
        for part, value in zip(self.PARTS, values):
            name = f"task{task_id}_{part}"
            if hasattr(self, name):
                delattr(self, name)
            self.register_buffer(name, value.detach().clone())

    def get(self, task_id: int) -> tuple[Tensor, ...]:
        """Task ``task_id``'s statistics, in the order of ``PARTS``."""
        return tuple(getattr(self, f"task{task_id}_{part}") for part in self.PARTS)  # type: ignore[return-value]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # A rebuilt model has no statistics yet: create a buffer of the right shape for every
        # task{t}_* entry of the checkpoint, then let PyTorch copy the values in.
        for key, value in state_dict.items():
            name = key[len(prefix):]
            if key.startswith(prefix) and "." not in name and name.startswith("task") and not hasattr(self, name):
                self.register_buffer(name, torch.empty_like(value))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


def statistics(model: "MultiTaskConvSynapticNet") -> TaskStatistics:
    """``model.task_statistics``: what every finished task keeps for task inference, attached to the model
    (empty) the first time it is asked for, so that ``state_dict()``, ``save()`` and ``load()`` carry it."""
    stats = getattr(model, "task_statistics", None)
    if not isinstance(stats, TaskStatistics):
        weight = next(model.parameters())  # the buffers live where the model lives
        model.task_statistics = stats = TaskStatistics().to(weight.device)
    return stats


# -- fitting ---------------------------------------------------------------------------------
def _batches(data: Any, split: str, batch_size: int) -> Iterable[tuple[Tensor, Tensor]]:
    return data.eval_batches(split, batch_size)


def shared_features(model: "MultiTaskConvSynapticNet", x: Tensor) -> Tensor:
    """``g(x)``: task 0's conv maps after every conv layer, averaged over space and concatenated
    (:meth:`~synapticnet.model.MultiTaskConvSynapticNet.shared_features`): the same for every task."""
    return model.shared_features(x)


@torch.no_grad()
def _features(model: "MultiTaskConvSynapticNet", data: Any, task_id: int, split: str, device: torch.device | str,
              batch_size: int, max_images: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Task ``task_id``'s penultimate features, the shared features (both float64) and the labels of one
    split (at most ``max_images``, evenly spread)."""
    feats, shared, labels = [], [], []
    for x, y in _spread(_batches(data, split, batch_size), _stride(data, split, max_images)):
        x = x.to(device)
        feats.append(model.features(x, task_id).double().cpu())
        shared.append(shared_features(model, x).double().cpu())
        labels.append(y)
    return torch.cat(feats), torch.cat(shared), torch.cat(labels)


def class_means_and_precision(features: Tensor, labels: Tensor, num_classes: int,
                              shrinkage: float = DEFAULT_SHRINKAGE) -> tuple[Tensor, Tensor]:
    """Class means ``(C, D)`` and the inverse of the shared (within-class) covariance ``(D, D)``.

    The covariance of penultimate ReLU features is often singular (dead units have zero
    variance, and there may be fewer images than features), so a ridge is added before
    inverting: ``Σ + shrinkage · mean(diag Σ) · I`` — a simple, scale-free shrinkage
    towards a sphere. Computed in float64.
    """
    features = features.double()
    counts = torch.bincount(labels, minlength=num_classes)
    missing = (counts == 0).nonzero().flatten().tolist()
    if missing:
        raise ValueError(f"cannot fit class means: classes {missing} have no training images")
    sums = torch.zeros(num_classes, features.shape[1], dtype=torch.float64).index_add_(0, labels, features)
    means = sums / counts[:, None]
    centred = features - means[labels]
    cov = centred.T @ centred / len(features)
    ridge = shrinkage * cov.diagonal().mean().clamp_min(1e-12)
    cov = cov + ridge * torch.eye(len(cov), dtype=cov.dtype)
    return means, torch.cholesky_inverse(torch.linalg.cholesky(cov))


def log_determinant(precision: Tensor) -> Tensor:
    """``log det Σ`` from the precision ``Σ⁻¹`` (a Gaussian's normaliser, needed to compare likelihoods)."""
    return -torch.linalg.slogdet(precision.double())[1]


def min_mahalanobis(features: Tensor, means: Tensor, precision: Tensor) -> Tensor:
    """``min_c (f − μ_c)ᵀ P (f − μ_c)`` for every row ``f`` of ``features`` (float64)."""
    f, mu, p = features.double(), means.double(), precision.double()
    fp = f @ p
    d = (fp * f).sum(1, keepdim=True) - 2 * fp @ mu.T + ((mu @ p) * mu).sum(1)[None, :]
    return d.min(dim=1).values.clamp_min(1e-12)


@torch.no_grad()
def fit_task_statistics(model: "MultiTaskConvSynapticNet", data: Any, task_id: int | None = None,
                        device: torch.device | str = "cpu", shrinkage: float = DEFAULT_SHRINKAGE,
                        shared_shrinkage: float = SHARED_SHRINKAGE, batch_size: int = 512,
                        max_images: int | None = FIT_IMAGES,
                        calibration_images: int | None = CALIBRATION_IMAGES) -> dict[str, Any]:
    """Fit and store task ``task_id``'s statistics (default: ``data.task_id``) once it has finished.

    Class means and the shared covariance — of the task's penultimate features and of the
    shared features — come from the task's training split (never augmented here); the
    calibration of ``log d_t`` from its validation split (the training split if it has
    none — distances there are a little smaller). At most ``max_images`` /
    ``calibration_images`` of each split are used, evenly spread (``None``: all). Only this
    task's own data is used: nothing of older tasks is needed.

    The model is put in eval mode for the duration (dropout off, BatchNorm uses its stored
    statistics and does not update them) and restored after; no parameter changes. A
    frozen task's statistics cannot be replaced: they are frozen with the task.
    Returns what was fitted: the calibration numbers, images and feature sizes.
    """
    tid = model.check_task_id(data.task_id if task_id is None else task_id)
    stats = statistics(model)
    if stats.has(tid) and tid != model.trainable_task:
        raise ValueError(f"task {tid} is frozen and already has its task-inference statistics; they were fixed "
                         "when it finished and are not refitted")
    for name, value in (("shrinkage", shrinkage), ("shared_shrinkage", shared_shrinkage)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    with evaluating(model):  # eval mode, no gradients; the previous mode is restored after
        feats, shared, labels = _features(model, data, tid, "train", device, batch_size, max_images)
        classes = model.num_classes(tid)
        means, precision = class_means_and_precision(feats, labels.long(), classes, shrinkage)
        shared_means, shared_precision = class_means_and_precision(shared, labels.long(), classes, shared_shrinkage)
        held_out = "val" if getattr(data, "n_val", 0) else "train"
        if held_out == "val":
            feats = _features(model, data, tid, "val", device, batch_size, calibration_images)[0]
        log_d = min_mahalanobis(feats, means, precision).log()
        loc = log_d.mean()
        scale = log_d.std(unbiased=False).clamp_min(1e-6) if len(log_d) > 1 else log_d.new_tensor(1.0)
    dtype, where = model.heads[0].weight.dtype, model.heads[0].weight.device
    values = (means, precision, torch.stack([loc, scale]), shared_means, shared_precision,
              log_determinant(shared_precision).reshape(1))
    stats.store(tid, *(v.to(where, dtype) for v in values))
    return {"log_distance_mean": float(loc), "log_distance_std": float(scale), "calibration_split": held_out,
            "train_images": len(labels), "features": feats.shape[1], "shared_features": shared.shape[1]}


def require_statistics(model: "MultiTaskConvSynapticNet") -> None:
    """Raise a clear error unless every task of ``model`` has finished (has its statistics)."""
    missing = [t for t in range(model.num_tasks) if not statistics(model).has(t)]
    if len(missing) == model.num_tasks:
        raise RuntimeError("no task has been trained and fitted yet: task inference compares the tasks' statistics, "
                           "which fit_task_statistics(model, data) stores when a task finishes (run_sequence does it)")
    if missing:
        raise RuntimeError(f"task(s) {missing} have no task-inference statistics yet (still training, or from an old "
                           "checkpoint): call fit_task_statistics(model, data) for each when it has finished")


# -- scoring ---------------------------------------------------------------------------------
def task_outputs(model: "MultiTaskConvSynapticNet", x: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``[(features, logits)]`` of every task for images ``x``: exactly ``model.features(x, t)``
    and ``model(x, t)`` for every ``t``, computed together (see :func:`all_outputs`)."""
    return all_outputs(model, x)[1]


def all_outputs(model: "MultiTaskConvSynapticNet", x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """``(shared features, [(features, logits)] of every task)`` for images ``x``.

    Asking every task is what task inference costs: ``T`` forward passes instead of one.
    The model computes them together (:meth:`~synapticnet.model.MultiTaskConvSynapticNet.all_outputs`):
    in ``reuse`` mode the newest task's conv pass computes every older task's filters too
    (old units never read new ones), and only the dense layers and heads run once per task.
    """
    return model.all_outputs(x)


def check_finite_images(x: Tensor) -> None:
    """Raise a one-line ``ValueError`` if images hold NaN or ±inf: every task would score them NaN, and
    ``argmax`` would silently send them all to task 0, class 0."""
    if isinstance(x, Tensor) and x.is_floating_point() and x.dim() > 0 and not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).reshape(len(x), -1).any(1).nonzero().flatten().tolist()
        raise ValueError(f"{len(bad)} image(s) hold NaN or ±inf values (first: {bad[:5]}): task inference cannot "
                         "score them; clean or drop them first")


def score_tasks(model: "MultiTaskConvSynapticNet", shared: Tensor, outputs: Sequence[tuple[Tensor, Tensor]],
                scorer: str = DEFAULT_SCORER) -> Tensor:
    """``(N, T)`` float64 scores from :func:`all_outputs`: higher = the image looks more like task ``t``'s."""
    check_scorer(scorer)
    columns = []
    for t, (f, z) in enumerate(outputs):
        z = z.double()
        if scorer == "shared_gaussian":
            means, precision, logdet = statistics(model).get(t)[3:]
            if means.shape[1] != shared.shape[1]:
                raise RuntimeError(f"task {t}'s statistics were fitted for {means.shape[1]} shared features but task 0 "
                                   f"now gives {shared.shape[1]} (compacted after fitting): refit them")
            columns.append(-0.5 * (min_mahalanobis(shared, means, precision) + logdet.double()))
        elif scorer == "max_softmax":
            columns.append(z.softmax(1).max(1).values)
        elif scorer == "entropy":
            logp = z.log_softmax(1)
            columns.append((logp.exp() * logp).sum(1) / math.log(max(z.shape[1], 2)))  # minus normalised entropy
        elif scorer == "energy":
            columns.append(torch.logsumexp(z, 1))
        else:
            means, precision, calibration = statistics(model).get(t)[:3]
            if means.shape[1] != f.shape[1]:
                raise RuntimeError(f"task {t}'s statistics were fitted for {means.shape[1]} features but it now has "
                                   f"{f.shape[1]} (widened or compacted after fitting): refit them")
            log_d = min_mahalanobis(f, means, precision).log()
            loc, scale = calibration.double()
            columns.append(-(log_d - loc) / scale)
    return torch.stack(columns, 1)


@torch.no_grad()
def infer_task(model: "MultiTaskConvSynapticNet", x: Tensor, scorer: str = DEFAULT_SCORER) -> Tensor:
    """The most likely task of every image of ``x``: a LongTensor of shape (N,)."""
    return predict(model, x, scorer)[0]


@torch.no_grad()
def predict(model: "MultiTaskConvSynapticNet", x: Tensor, scorer: str = DEFAULT_SCORER) -> tuple[Tensor, Tensor]:
    """``(task ids, class labels within that task)`` for images ``x``, without being told the task.

    Runs in eval mode (restored afterwards); needs every task's statistics (see
    :func:`fit_task_statistics`) — for every scorer, because having them is what marks
    a task as finished — and finite images (NaN or ±inf: a ``ValueError``).
    """
    check_scorer(scorer)
    require_statistics(model)
    check_finite_images(x)
    with evaluating(model):  # eval mode, no gradients; the previous mode is restored after
        shared, outputs = all_outputs(model, x)
        tasks = score_tasks(model, shared, outputs, scorer).argmax(1)
        logits = [z for _, z in outputs]
        labels = torch.stack([z.argmax(1) for z in logits], 1).gather(1, tasks[:, None])[:, 0]
    return tasks, labels


# -- metrics ---------------------------------------------------------------------------------
def _stride(data: Any, split: str, max_images: int | None) -> int:
    """Keep every ``k``-th image so that at most ``max_images`` of the split are used."""
    if max_images is None:
        return 1
    n = getattr(data, f"n_{split}", None)
    if n is None:
        raise ValueError(f"max_images needs the size of the {split!r} split (data.n_{split})")
    return max(1, math.ceil(n / max_images))


def _spread(batches: Iterable[tuple[Tensor, Tensor]], stride: int) -> Iterable[tuple[Tensor, Tensor]]:
    """Every ``stride``-th image of a stream of batches (counted across batches)."""
    seen = 0
    for x, y in batches:
        keep = (torch.arange(seen, seen + len(y)) % stride) == 0
        seen += len(y)
        if keep.any():
            yield x[keep], y[keep]


def task_id_accuracy(predicted_tasks: Tensor, true_tasks: Tensor) -> float:
    """Fraction of images whose task was identified correctly."""
    return float((predicted_tasks == true_tasks).double().mean())


def class_incremental_accuracy(predicted_tasks: Tensor, predicted_labels: Tensor, true_tasks: Tensor,
                               true_labels: Tensor) -> float:
    """Fraction of images with the task **and** the class right (the class-incremental score)."""
    return float(((predicted_tasks == true_tasks) & (predicted_labels == true_labels)).double().mean())


def task_confusion_matrix(predicted_tasks: Tensor, true_tasks: Tensor, num_tasks: int) -> Tensor:
    """``(T, T)`` counts: row = true task, column = inferred task."""
    index = true_tasks.long() * num_tasks + predicted_tasks.long()
    return torch.bincount(index, minlength=num_tasks * num_tasks).reshape(num_tasks, num_tasks)


@torch.no_grad()
def evaluate_task_inference(model: "MultiTaskConvSynapticNet", datasets: Sequence[Any], split: str = "test",
                            scorers: Sequence[str] = SCORERS, device: torch.device | str = "cpu",
                            batch_size: int = 512, max_images: int | None = None) -> dict[str, Any]:
    """Task identification and class-incremental accuracy on the union of the tasks' ``split``.

    ``datasets[j]`` is task ``j``'s data. Every image is shown to every task; each scorer
    picks a task, and that task's head picks the class. ``"oracle"`` is the head of the
    true task (the task-incremental accuracy every earlier notebook reports). Accuracies
    are pooled over all images (tasks with more test images weigh more) and also given
    per task. ``max_images`` caps the images per task: every ``k``-th image of the split is
    used (an even spread, whatever order the split is in). Returns plain JSON types.
    """
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1):
        raise ValueError(f"max_images must be a positive integer or None, got {max_images!r}")
    scorers = [check_scorer(s) for s in scorers]
    require_statistics(model)
    T = len(datasets)
    if T != model.num_tasks:
        raise ValueError(f"the model has {model.num_tasks} task(s) but {T} dataset(s) were given: pass one per task")
    pred = {s: [] for s in scorers}
    pred_labels = {s: [] for s in scorers}
    oracle, true_t, true_y = [], [], []
    with evaluating(model):  # eval mode, no gradients; the previous mode is restored after
        for j, data in enumerate(datasets):
            for x, y in _spread(data.eval_batches(split, batch_size), _stride(data, split, max_images)):
                check_finite_images(x)
                shared, outputs = all_outputs(model, x.to(device))
                labels = torch.stack([z.argmax(1).cpu() for _, z in outputs], 1)
                oracle.append(labels[:, j])
                true_t.append(torch.full((len(y),), j, dtype=torch.long))
                true_y.append(y.long())
                for s in scorers:
                    tasks = score_tasks(model, shared, outputs, s).argmax(1).cpu()
                    pred[s].append(tasks)
                    pred_labels[s].append(labels.gather(1, tasks[:, None])[:, 0])
    true_t, true_y, oracle = torch.cat(true_t), torch.cat(true_y), torch.cat(oracle)
    per_task = lambda correct: [float(correct[true_t == j].double().mean()) for j in range(T)]  # noqa: E731
    result: dict[str, Any] = dict(
        split=split, scorers=list(scorers), default_scorer=DEFAULT_SCORER,
        n_images=[int((true_t == j).sum()) for j in range(T)],
        task_id_accuracy={}, class_incremental_accuracy={"oracle": float((oracle == true_y).double().mean())},
        per_task=dict(oracle=per_task(oracle == true_y)), task_confusion={},
    )
    for s in scorers:
        tasks, labels = torch.cat(pred[s]), torch.cat(pred_labels[s])
        result["task_id_accuracy"][s] = task_id_accuracy(tasks, true_t)
        result["class_incremental_accuracy"][s] = class_incremental_accuracy(tasks, labels, true_t, true_y)
        result["per_task"][s] = dict(task_id_accuracy=per_task(tasks == true_t),
                                     class_incremental_accuracy=per_task((tasks == true_t) & (labels == true_y)))
        result["task_confusion"][s] = task_confusion_matrix(tasks, true_t, T).tolist()
    return result


# -- reporting -------------------------------------------------------------------------------
SCORER_TITLES = {"oracle": "oracle (task id given)", "shared_gaussian": "shared Gaussian (default)",
                 "mahalanobis": "Mahalanobis, own features", "max_softmax": "max-softmax",
                 "entropy": "entropy (SupSup)", "energy": "energy"}


def comparison_rows(results: dict[str, Any], baselines: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Rows for a table: per scorer, task identification and class-incremental accuracy (%),
    and what not knowing the task costs (points below the oracle).

    ``results`` is a run's ``results.json`` (its ``task_inference`` entry is used) or
    :func:`evaluate_task_inference`'s output; ``baselines`` adds other methods'
    class-incremental accuracy, e.g. ``{"replay": 0.41}``.
    """
    results = results.get("task_inference") or results
    tid, ci = results["task_id_accuracy"], results["class_incremental_accuracy"]
    oracle = ci["oracle"]
    rows = [{"method": SCORER_TITLES["oracle"], "task identified %": 100.0, "class-incremental %": round(100 * oracle, 2),
             "cost (points)": 0.0}]
    rows += [{"method": SCORER_TITLES.get(s, s), "task identified %": round(100 * tid[s], 2),
              "class-incremental %": round(100 * ci[s], 2), "cost (points)": round(100 * (oracle - ci[s]), 2)}
             for s in tid]
    rows += [{"method": name, "task identified %": None, "class-incremental %": round(100 * value, 2),
              "cost (points)": None} for name, value in (baselines or {}).items()]
    return rows


@torch.no_grad()
def inference_seconds(model: "MultiTaskConvSynapticNet", x: Tensor, repeats: int = 3) -> dict[str, float]:
    """Seconds per image: one task's forward pass (the oracle) against :func:`predict` (every task).

    The best of ``repeats`` timings, in eval mode — the compute price of not knowing the task.
    """
    import time

    timings: dict[str, float] = {}
    with evaluating(model):  # eval mode, no gradients; the previous mode is restored after
        for name, call in (("oracle", lambda: model(x, task_id=model.num_tasks - 1)), ("predict", lambda: predict(model, x))):
            best = math.inf
            for _ in range(max(1, repeats)):
                start = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - start)
            timings[name] = best / len(x)
    return timings
