"""Regression tests for the second fault audit's findings that live in the runner and the command line
(the others sit next to their code: test_storage, test_scripts, test_workspace, test_data, test_streams,
test_model, test_task_inference, test_runner)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from synapticnet.__main__ import main
from synapticnet.data import TaskDataset, make_synthetic
from synapticnet.profiles import SMOKE
from synapticnet.run import CHECKPOINT, run
from synapticnet.storage import load_torch, save_torch

PROFILE = SMOKE.replace(n_train=120, val_size=30, max_steps_per_task=4, batch_size=32)
TASKS = ["synthetic_mnist", "synthetic_fashion_mnist"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-task SynapticNet run; each test works on its own copy of the checkpoint."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("finished")
    return out, run(TASKS, "synapticnet", PROFILE, out_dir=out, progress=False, device="cpu")


def tampered(finished, tmp_path, change) -> object:
    """Resume a copy of the finished run whose checkpoint was edited by ``change``; returns the error."""
    out, _ = finished
    checkpoint = load_torch(out / CHECKPOINT)
    change(checkpoint)
    save_torch(checkpoint, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError) as error:
        run(TASKS, "synapticnet", PROFILE, out_dir=tmp_path, progress=False, device="cpu", resume=True)
    assert "\n" not in str(error.value)
    return error.value


def test_item6_tampered_accuracy_rows_are_not_trusted(finished, tmp_path):
    """Audit 6: a checkpoint whose saved rows were edited (a fake BWT) is refused, not published."""
    def fake_forgetting(checkpoint):
        row = checkpoint["state"]["rows"][-1]
        row[0] += -0.135 if row[0] > 0.5 else 0.135  # a fake change of 13.5 points, still an accuracy
    assert "not those of its network" in str(tampered(finished, tmp_path, fake_forgetting))


@pytest.mark.parametrize("edit, named", [
    (lambda s: s.pop("seed"), "seed missing"),
    (lambda s: s.update(seed="zero"), "seed is str"),
    (lambda s: s.update(finished=7), "finished = 7"),
    (lambda s: s.update(rows=[[2.5]]), "not accuracies"),
])
def test_item6_a_damaged_run_state_is_one_clear_line(finished, tmp_path, edit, named):
    """Audit 6: a state with a missing or mistyped entry was a KeyError/TypeError traceback."""
    assert named in str(tampered(finished, tmp_path, lambda checkpoint: edit(checkpoint["state"])))


def test_item6_non_finite_weights_in_a_run_checkpoint_are_refused(finished, tmp_path):
    def poison(checkpoint):
        checkpoint["model"]["state_dict"]["heads.0.weight"][0, 0] = float("nan")
    assert "NaN or inf" in str(tampered(finished, tmp_path, poison))


def test_item5_resuming_on_other_arrays_is_refused(tmp_path):
    """Audit 5: TaskDataset objects carry a content hash; a resume on changed images is refused."""
    arrays = make_synthetic(num_classes=3, n_train=150, n_test=60, seed=3)

    def tasks(images):
        return [TaskDataset(dict(images, x_train=x), task_id=0, name="mine", n_train=120, val_size=30)
                for x in [images["x_train"]]]
    first = tasks(arrays)
    run(first, "finetune", PROFILE, out_dir=tmp_path, progress=False, device="cpu")
    changed = dict(arrays, x_train=arrays["x_train"].copy())
    changed["x_train"][0, 0, 0] ^= 0xFF  # one pixel
    with pytest.raises(ValueError, match="the data of task 'mine' changed"):
        run(tasks(changed), "finetune", PROFILE, out_dir=tmp_path, progress=False, device="cpu", resume=True)
    assert run(tasks(arrays), "finetune", PROFILE, out_dir=tmp_path, progress=False, device="cpu",
               resume=True)["complete"]


def test_item11_a_boolean_is_not_a_step_count():
    """Audit 11: max_steps_per_task=True counted as one step."""
    with pytest.raises(ValueError, match="max_steps_per_task = True"):
        SMOKE.replace(max_steps_per_task=True)


def test_item14_ctrl_c_while_starting_is_one_line_and_exit_130(monkeypatch, capsys):
    """Audit 14: Ctrl-C in the first seconds (while torch is imported) gave a 40-line traceback."""
    import synapticnet.__main__ as cli

    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["run"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_item14_the_package_and_the_command_line_start_without_torch():
    """``import synapticnet`` and ``--help`` do not import torch (names load on first use), so the window in
    which Ctrl-C lands inside torch's import is the run's own start, inside main()'s handler."""
    code = ("import sys, synapticnet, synapticnet.__main__ as m\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(synapticnet.TaskConv2d.__name__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["TaskConv2d", "True"]


def test_item16_every_synthetic_stream_runs_under_the_smoke_profile(tmp_path):
    """Audit 16: no synthetic split stream ran under --profile smoke (n_train=600, val_size=100)."""
    code = main(["run", "--profile", "smoke", "--tasks", "synthetic_split_mnist/0,synthetic_permuted_mnist/1",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0
