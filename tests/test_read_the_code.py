"""The two files a student reads, ``layers.py`` and ``model.py``, hold only the network.

They import nothing but PyTorch, ``typing``/``math`` and each other, stay short enough to read in one
sitting, and run as they are when pasted into a notebook (layers.py in one cell, model.py in the next).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import synapticnet
from synapticnet import MultiTaskConvSynapticNet
from synapticnet import model as network

PACKAGE = Path(synapticnet.__file__).parent
READ = [PACKAGE / "layers.py", PACKAGE / "model.py"]
MAX_LINES = 870  # 841 before the per-task whitening layer (model.whiten) came in
ALLOWED = {"torch", "typing", "math"}  # and each other: from .layers import …


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, anywhere in the file (inside functions too); relative ones as ``.name``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("path", READ, ids=lambda p: p.name)
def test_the_files_a_student_reads_import_only_torch_and_each_other(path: Path):
    others = {"." + p.stem for p in READ if p != path}
    strays = [name for name in imports(path) if name.split(".")[0] not in ALLOWED and name not in others]
    assert not strays, f"{path.name} imports {strays}: the network's files import only torch and each other"


def test_the_files_a_student_reads_are_short_enough_to_read():
    lines = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in READ}
    assert sum(lines.values()) <= MAX_LINES, lines


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # torch's, for the zero-unit block
def test_the_two_files_run_when_pasted_into_a_notebook():
    """layers.py in one cell, model.py in the next (no package around them): the network grows and trains,
    and with the same seed it computes exactly what the package's network computes."""
    cells: dict = {"__name__": "__main__"}  # a notebook's namespace: no package, so `from .layers` fails
    for path in READ:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), cells)
    pasted_class = cells["MultiTaskConvSynapticNet"]
    assert pasted_class is not network.MultiTaskConvSynapticNet  # really the pasted copy, not the package's
    assert cells["TaskConv2d"] is not synapticnet.layers.TaskConv2d
    kwargs = dict(in_channels=3, conv_channels=(4, 8), hidden=(16,), num_classes=5, image_size=8)
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    models = []
    for cls in (pasted_class, MultiTaskConvSynapticNet):
        torch.manual_seed(0)
        model = cls(**kwargs)
        model.grow(num_classes=3, grow_conv_channels=(2, 0), grow_hidden=4)  # zero growth: reuse mode allows it
        models.append(model)
    pasted, package = models
    for model in models:
        torch.manual_seed(1)  # the same dropout masks
        loss = model(x, task_id=1).logsumexp(1).mean()
        loss.backward()
        model.apply_task_gradient_mask(1)
    assert all(p.grad is None for p in pasted.task_parameters(0))  # the old task takes no gradient
    assert pasted.state_dict().keys() == package.state_dict().keys()
    assert all(torch.equal(v, package.state_dict()[k]) for k, v in pasted.state_dict().items())
    pasted.eval(), package.eval()
    with torch.no_grad():
        assert all(torch.equal(pasted(x, t), package(x, t)) for t in range(2))
