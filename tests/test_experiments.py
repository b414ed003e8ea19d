"""Comparisons and studies (synapticnet.experiments) on synthetic streams: standard results, forgetting,
tuning on val only."""

from __future__ import annotations

import pytest
import torch

from synapticnet import engine
from synapticnet import experiments as E
from synapticnet import run as run_module
from synapticnet.experiments.studies import distillation_study, growth_study, scaled_growth, trigger_study
from synapticnet.methods import final_width, get_method
from synapticnet.methods.base import stratified_memory
from synapticnet.profiles import SMOKE, GrowthTrigger
from synapticnet.run import build_results, load_task_data, run_baseline
from synapticnet.storage import load_json

TASKS = ["synthetic_mnist", "synthetic_cifar10"]
TINY = SMOKE.replace(n_train=200, val_size=60, max_steps_per_task=6)
# A stream where features must conflict: 3 epochs over 1000 examples of each task (see conflict_stream).
CONFLICT = SMOKE.replace(epochs={"default": 3}, n_train=1000)


def standard_keys(tmp_path) -> set[str]:
    """The keys run.build_results writes for SynapticNet (computed, not copied, so the test follows it)."""
    data = load_task_data(TASKS[:1], TINY, None, 0)
    method = get_method("synapticnet")(TINY, "cpu", 0)
    model = method.build(TASKS[:1], 10)
    state = dict(tasks=TASKS[:1], finished=0, rows=[], train_seconds=[], val_accuracy=[], growth_decisions=[],
                 steps=[], compaction=[], extra={}, started_at="x", seed=0, hyper=method.hyper, eval_split="test")
    return set(build_results(state, data, model, method, TINY, torch.device("cpu"), []))


def test_every_method_runs_and_writes_standard_results(tmp_path):
    keys = standard_keys(tmp_path)
    datasets = load_task_data(TASKS, TINY, None, 0)
    for method in E.METHODS:
        out = tmp_path / method
        r = run_baseline(method, datasets, profile=TINY, out_dir=out, progress=False, device="cpu")
        assert keys <= set(r), f"{method} misses {keys - set(r)}"
        assert r["method"] == method and r["complete"] and r["tasks"] == TASKS
        assert load_json(out / "results.json")["method"] == method
        if method == "joint":
            assert len(r["accuracy_matrix"]) == 1 and r["bwt"] is None
            assert r["steps_per_task"] == [2 * 6]  # each task's sequential budget, interleaved
        else:
            assert len(r["accuracy_matrix"]) == 2 and r["steps_per_task"] == [6, 6]
    # the shared network has SynapticNet's final width
    assert final_width(TINY, TASKS) == ((12, 24, 48), (96,))


def test_finetuning_forgets_and_replay_ewc_reduce_it_synapticnet_does_not(tmp_path):
    datasets = E.conflict_stream(CONFLICT, seed=0, n_train=1100, n_test=200)
    run = lambda m, **h: run_baseline(m, datasets, profile=CONFLICT, out_dir=tmp_path / m,  # noqa: E731
                                      progress=False, device="cpu", **h)
    # Margins chosen from runs with ATEN_CPU_CAPABILITY=default/avx2/unset at 1 and 2 threads:
    # fine-tuning BWT -0.63 .. -0.76, replay 0.00, EWC(1e5) -0.25 .. -0.38 (smallest gap to
    # fine-tuning 0.24). Each assertion keeps at least half of its observed margin in reserve.
    finetune = run("finetune")
    assert finetune["accuracy_matrix"][0][0] > 0.9  # task A was learned ...
    assert finetune["bwt"] < -0.3  # ... and overwritten by task B
    replay = run("replay")
    assert replay["bwt"] > -0.1 and replay["bwt"] > finetune["bwt"] + 0.3
    assert run("ewc", ewc_lambda=1e5)["bwt"] > finetune["bwt"] + 0.1
    # GEM and A-GEM refuse every step that raises the old task's memory loss: BWT -0.005 .. 0.00
    # with the same capabilities (A-GEM with one averaged constraint, here one old task: the same idea)
    for method, memory in (("gem", 50), ("agem", 200)):
        projected = run(method, memory_per_task=memory)
        assert projected["bwt"] > -0.2 and projected["bwt"] > finetune["bwt"] + 0.3, method
    synapticnet = run("synapticnet")
    assert synapticnet["bwt"] == 0.0 and synapticnet["forgetting"] == 0.0  # exact


def test_sweep_picks_best_validation_value_and_never_touches_test(tmp_path, monkeypatch):
    splits = []
    real = engine.evaluate

    def spy(model, data, split="test", *args, **kwargs):
        splits.append(split)
        return real(model, data, split, *args, **kwargs)
    monkeypatch.setattr(run_module, "evaluate", spy)  # the runner's evaluation after every task
    monkeypatch.setattr(engine, "evaluate", spy)  # the engine's validation accuracy
    datasets = load_task_data(TASKS, TINY, None, 0)
    result = E.sweep("replay", [10, 50], profile=TINY, datasets=datasets, out_dir=tmp_path)
    assert "val" in splits and set(splits) <= {"val", "train"}  # training-image accuracy too, never the test split
    scores = result["val_average_accuracy"]
    assert result["chosen"] == [10, 50][max(range(2), key=lambda i: scores[i])]
    assert result["param"] == "memory_per_task"


def test_stratified_memory_is_balanced():
    data = load_task_data(TASKS[:1], TINY, None, 0)[0]
    x, y = stratified_memory(data, 50, seed=1)
    assert x.shape == (50, 3, 32, 32)
    assert torch.bincount(y, minlength=10).tolist() == [5] * 10


def test_distillation_option_changes_old_units_and_refreezes(tmp_path):
    profile = TINY.replace(max_steps_per_task=8)
    datasets = load_task_data(TASKS, profile, None, 0)
    torch.manual_seed(0)
    method = get_method("synapticnet_distill")(profile, "cpu", 0)
    model = method.build(TASKS, 10)
    engine.train_task(model, datasets[0], profile, progress=False)
    before = [p.detach().clone() for p in model.task_parameters(0)]
    model.grow(num_classes=10)
    method.fit(model, datasets, [1])
    method.after_task(model, datasets, 1)
    after = model.task_parameters(0)
    assert any(not torch.equal(a, b) for a, b in zip(after, before))  # the guarantee is given up
    assert all(not p.requires_grad for p in after)  # ... and old units are frozen again
    assert all(p.requires_grad for p in model.task_parameters(1))
    assert all(block.norm.frozen for layer in model.task_layers for block in layer.blocks[:1] if block.norm is not None)


def test_distillation_scales_only_old_units_gradients():
    # old units learn at old_lr_factor x the rate: their gradients are scaled, the newest task's are not
    from synapticnet.methods.synapticnet_distill import slow_down_old_units

    torch.manual_seed(0)
    model = get_method("synapticnet_distill")(TINY, "cpu", 0).build(TASKS, 10)
    model.grow(num_classes=10)
    for layer in model.task_layers:
        for block in layer.blocks:
            block.requires_grad_(True)
    for head in model.heads:
        head.requires_grad_(True)
    x = torch.randn(4, 3, 32, 32)
    (model(x, task_id=0).sum() + model(x, task_id=1).sum()).backward()
    old = [p for p in model.task_parameters(0) if p.grad is not None]
    new = [p for p in model.task_parameters(1) if p.grad is not None]
    old_grads, new_grads = [p.grad.clone() for p in old], [p.grad.clone() for p in new]
    assert old and new and any(g.abs().sum() > 0 for g in old_grads)
    slow_down_old_units(model, 0.25)
    assert all(torch.equal(p.grad, 0.25 * g) for p, g in zip(old, old_grads))
    assert all(torch.equal(p.grad, g) for p, g in zip(new, new_grads))


def test_studies_return_rows(tmp_path):
    p = TINY.replace(mode="reuse")
    g = growth_study([0, 1], TASKS, p, tmp_path / "g")
    assert [r["factor"] for r in g["rows"]] == [0, 1]
    assert g["rows"][0]["params_total"] < g["rows"][1]["params_total"]
    assert scaled_growth(p, 0.5)["default"] == ((2, 4, 8), (16,))
    t = trigger_study(TASKS, p.replace(max_steps_per_task=None, epochs={"default": 2}, n_train=300), tmp_path / "t",
                      GrowthTrigger(threshold={"default": 1.01}, grow_conv_channels=2, grow_hidden=4))
    assert [r["setting"] for r in t["rows"]] == ["manual", "automatic"] and t["rows"][1]["widenings"] == 2  # one probe per task, both below 101 %
    d = distillation_study(TASKS, p, tmp_path / "d", lambdas=(1.0,))
    assert d["rows"][0]["bwt"] == 0.0 and len(d["rows"]) == 2


def test_distillation_study_records_a_diverged_setting(tmp_path, monkeypatch):
    from synapticnet.experiments import studies

    p = TINY.replace(mode="reuse")
    frozen = studies.run_sequence(TASKS, p, out_dir=tmp_path / "frozen", progress=False)

    def diverge(*args, **kwargs):
        raise engine.TrainingDiverged("task 1 (x): loss became nan at step 3 (epoch 0); stopping")
    monkeypatch.setattr(studies, "run", diverge)  # the distillation runs (the frozen one is run_sequence)
    d = distillation_study(TASKS, p, tmp_path / "d", lambdas=(10.0,), frozen=frozen)
    assert d["rows"][0]["setting"] == "frozen (exact)" and d["rows"][0]["bwt"] == 0.0
    bad = d["rows"][1]
    assert bad["diverged"].startswith("task 1") and bad["bwt"] is None and bad["average_accuracy"] is None


def test_budget_label_names_what_the_budget_trades_away():
    one = E.budget_label(SMOKE.replace(n_train=4000, epochs={"default": 3}), ["mnist", "cifar10"])
    assert "4,000 training images/task" in one and "3 epochs/task" in one and "SYNTHETIC" not in one
    mixed = E.budget_label(SMOKE.replace(epochs={"default": 2, "cifar10": 4}, max_steps_per_task=5),
                           ["mnist", "cifar10"])
    assert "epochs 2/4 (mnist/cifar10)" in mixed and "≤5 steps/task" in mixed
    assert "SYNTHETIC" in E.budget_label(SMOKE, TASKS)


def test_methods_figure_value_labels_clear_the_error_bars():
    import matplotlib
    matplotlib.use("Agg")

    from synapticnet.experiments import figures as PB

    rows = [dict(method=m, average_accuracy=a, average_accuracy_std=s, bwt=b, bwt_std=None if b is None else s,
                 seeds=[0, 1, 2])
            for m, a, s, b in (("synapticnet", 0.766, 0.004, 0.0), ("finetune", 0.55, 0.03, -0.30),
                               ("gem", 0.75, 0.012, -0.03), ("joint", 0.75, 0.006, None))]
    fig = PB.methods_figure(rows, "made-up numbers")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax, key in zip(fig.axes, ("average_accuracy", "bwt")):
        labels = list(ax.texts)
        assert len(labels) == len(rows)
        for i, (row, label) in enumerate(zip(rows, labels)):
            box = label.get_window_extent(renderer)
            v, e = (0.0, 0.0) if row[key] is None else (100 * row[key], 100 * row[key + "_std"])
            up = v >= 0
            _, end = ax.transData.transform((i, v + e if up else v - e))  # the error bar's end, in pixels
            # clear of the cap (a line 1-2 px thick) by a few pixels, on the outer side
            assert (box.y0 > end + 2) if up else (box.y1 < end - 2), (key, row["method"])
            assert ax.get_window_extent(renderer).contains(box.x0, box.y0)  # inside the axes
            assert ax.get_window_extent(renderer).contains(box.x1, box.y1)


def test_accuracy_over_time_grid_has_one_readable_panel_per_method():
    import matplotlib
    matplotlib.use("Agg")

    from synapticnet.experiments import figures as PB
    from synapticnet.plots import display_name

    R = [[0.9, None, None], [0.5, 0.8, None], [0.4, 0.6, 0.7]]
    runs = {m: dict(accuracy_matrix=R, tasks=["a", "b", "c"]) for m in ("synapticnet", "finetune", "ewc", "replay")}
    fig = PB.accuracy_over_time_grid(runs, "made-up", columns=3)
    visible = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in visible] == [display_name(m) for m in runs]  # "EWC", not "ewc"
    assert len(fig.axes) == 6  # 2 rows x 3, 2 blank
    width, height = fig.get_size_inches()
    assert width / height < 3  # a grid, not a strip
    assert [len(ax.lines) for ax in visible] == [3] * 4


def test_forward_transfer_is_measured_against_the_separate_run_of_the_same_seed():
    from synapticnet.experiments import add_forward_transfer, mean_std

    runs = {
        "separate": [{"seed": 0, "accuracy_matrix": [[0.9, None], [0.9, 0.7]]},
                     {"seed": 1, "accuracy_matrix": [[0.9, None], [0.9, 0.6]]}],
        "replay": [{"seed": 0, "accuracy_matrix": [[0.95, None], [0.5, 0.8]]},
                   {"seed": 1, "accuracy_matrix": [[0.95, None], [0.5, 0.8]]}],
        "joint": [{"seed": 0, "accuracy_matrix": [[0.9, 0.9]]}],
        "ewc": [{"seed": 2, "accuracy_matrix": [[0.9, None], [0.9, 0.9]]}],  # no reference of that seed
    }
    add_forward_transfer(runs)
    assert [r["fwt"] for r in runs["replay"]] == pytest.approx([0.1, 0.2])  # 0.8 - 0.7, 0.8 - 0.6
    assert [r["fwt"] for r in runs["separate"]] == [0.0, 0.0]
    assert runs["joint"][0]["fwt"] is None and runs["ewc"][0]["fwt"] is None
    summary = mean_std(runs["replay"])
    assert summary["fwt"] == pytest.approx(0.15) and summary["fwt_std"] == pytest.approx(0.0707, abs=1e-4)


def test_compare_leaves_out_a_diverged_run_and_refuses_a_method_that_always_diverges(tmp_path, monkeypatch):
    import importlib

    compare_module = importlib.import_module("synapticnet.experiments.compare")  # the module, not the function
    real_run = compare_module.run

    def ewc_diverges_on_seed_1(datasets, method, profile, **kwargs):
        if method == "ewc" and kwargs["seed"] == 1:
            raise engine.TrainingDiverged("task 1 (x): loss became inf at step 3 (epoch 0); stopping")
        return real_run(datasets, method, profile, **kwargs)
    monkeypatch.setattr(compare_module, "run", ewc_diverges_on_seed_1)
    tiny = TINY.replace(max_steps_per_task=2)
    runs = E.compare(["finetune", "ewc"], [0, 1], TASKS, tiny, tmp_path)
    assert [r["seed"] for r in runs["finetune"]] == [0, 1] and [r["seed"] for r in runs["ewc"]] == [0]
    assert E.mean_std(runs["ewc"])["seeds"] == [0]
    with pytest.raises(engine.TrainingDiverged, match="ewc diverged on every seed"):
        E.compare(["ewc"], [1], TASKS, tiny, tmp_path / "again")


def test_growth_study_figures_have_readable_text_at_notebook_width():
    """Notebook 05's three figures: every text at least 10 pt and the figure at most 8 inches wide, so that no
    browser has to shrink it (a long budget label in the title is wrapped, not allowed to widen the figure)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.text import Text

    from synapticnet.experiments import figures as PB

    label = "Made-up title\n" + "cpu profile, 4,000 training images/task, 3 epochs/task, task-0 width " * 2
    rows = [dict(setting=f"×{f:g}", params_total=int(1e5 * (1 + f)), average_accuracy=0.6 + 0.05 * f,
                 train_seconds=10.0 + f, new_task_accuracy=0.5 + 0.01 * f, bwt=-0.01 * f) for f in (0, 0.5, 1)]
    figures = [PB.tradeoff_figure(rows, label, extra=[dict(rows[1], setting="isolate")]),
               PB.settings_figure(rows[:2], label), PB.transfer_forgetting_figure(rows, label)]
    for fig in figures:
        fig.canvas.draw()
        assert fig.get_size_inches()[0] <= 8.0
        texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
        assert texts and min(t.get_fontsize() for t in texts) >= 10, sorted({t.get_fontsize() for t in texts})
        titles = [t.get_text() for t in texts if "Made-up" in t.get_text()]
        assert titles and max(len(line) for line in titles[0].split("\n")) <= 80  # wrapped


def test_growth_studies_budget_is_notebook_04s_except_the_student_test_images():
    from synapticnet.profiles import budget

    for profile in ("smoke", "cpu"):  # the committed results of notebook 05 are trained exactly as notebook 04's
        assert budget("growth_studies", profile) == budget("comparison", profile)
    student, comparison = budget("growth_studies", "student"), budget("comparison", "student")
    assert student.n_test == 1000 and student.replace(n_test=comparison.n_test) == comparison


def test_notebook_04_figures_keep_10_point_text_at_notebook_width():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synapticnet.experiments import figures as PB

    R = [[0.9, None, None], [0.5, 0.8, None], [0.4, 0.6, 0.7]]
    names = ("synapticnet", "finetune", "ewc", "replay", "lwf", "gem", "agem", "separate", "joint")
    summary = [dict(method=m, average_accuracy=0.6, average_accuracy_std=0.01, bwt=-0.1, bwt_std=0.01, seeds=[0, 1, 2])
               for m in names]
    sweeps = [dict(method=m, param=p, values=[1, 10, 100], val_average_accuracy=[0.5, None, 0.6], chosen=100)
              for m, p in (("ewc", "ewc_lambda"), ("replay", "memory_per_task"), ("lwf", "lwf_lambda"),
                           ("gem", "memory_per_task"), ("agem", "memory_per_task"))]
    figures = [PB.methods_figure(summary, "made-up"),
               PB.accuracy_over_time_grid({m: dict(accuracy_matrix=R, tasks=["mnist", "fashion_mnist", "cifar10"])
                                           for m in names[:-1]}, "made-up"),
               PB.sweep_figure(sweeps, "made-up")]
    for fig in figures:
        assert fig.get_size_inches()[0] <= 10  # shown at about its size in a notebook, not scaled down
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
        assert sizes and min(sizes) >= 10
        texts = " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))
        assert "agem" not in texts and "fashion_mnist" not in texts  # display names, not identifiers
        plt.close(fig)
