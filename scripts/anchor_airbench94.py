"""The anchor on our data: airbench94's own training script, run on the offline CIFAR-10 copy.

airbench94 (Keller Jordan, 2024) reaches 94.01 % mean test accuracy on the original CIFAR-10 in
about 10 epochs; the fast-training ingredients our recipe borrows come from it. Our CIFAR-10 is an
offline copy, 55,000 of whose 60,000 images went through JPEG (``../shared/data/README``), so a
target set by the anchor's published number says nothing until the anchor is measured on the same
images. This script reads airbench94's published file (``legacy/airbench94.py`` of
``KellerJordan/cifar10-airbench`` at a pinned commit, checked by its SHA-256: nothing of it is kept
in this repository), changes only what a CPU and our data need, runs it per seed, and writes
``figures/anchor_airbench94.json``: test accuracy with its own test-time augmentation, on all 10,000
test images, on the exact ones (0–999) and on the JPEG ones (1,000–9,999), with the data file's
checksum (that split means something only for the offline copy; the README shows the note only
for it).

The changes, each a literal text replacement that fails loudly if the file is not the pinned one:
the data come from ``cifar10.npz`` instead of torchvision's download; the network stays in float32
on the CPU and the forward passes run under bfloat16 autocast (the original runs float16 on a GPU);
CUDA timing events become ``time.perf_counter``; the evaluation also scores the exact and JPEG test
images apart. Network, hyper-parameters, schedule, augmentation, Lookahead and test-time
augmentation are untouched. Its measured time per seed on a 2-core CPU: ``make help``.

Usage: ``SYNAPTICNET_DATA=../shared/data python scripts/anchor_airbench94.py [--seeds 0,1]
[--source path/to/legacy/airbench94.py]`` (without ``--source`` the file is downloaded).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synapticnet.arguments import existing_file, script, seeds
from synapticnet.data import load_arrays
from synapticnet.data.provenance import dataset_provenance
from synapticnet.storage import save_json

REPOSITORY = "KellerJordan/cifar10-airbench"
COMMIT = "f1c599c4af24aca803e3e65a6a7e52a502e09d0e"
PATH = "legacy/airbench94.py"
SHA256 = "0b155e0ff0e696bc01ae136654ddae88a24cd053cd2b4313d44548c29ed6c91d"
PUBLISHED = 94.01  # the file's own header: mean test accuracy over 1,000 runs on the original CIFAR-10
EXACT_TEST = 1000  # test images 0-999 of the offline copy are exact; the rest went through JPEG

# (what the file says, what it says here, how many times it occurs): the CPU and our data, nothing else.
REPLACEMENTS: tuple[tuple[str, str, int], ...] = (
    ("torch.backends.cudnn.benchmark = True\n", "AUTOCAST = dict(device_type='cpu', dtype=torch.bfloat16)\n", 1),
    ("""        data_path = os.path.join(path, 'train.pt' if train else 'test.pt')
        if not os.path.exists(data_path):
            dset = torchvision.datasets.CIFAR10(path, download=True, train=train)
            images = torch.tensor(dset.data)
            labels = torch.tensor(dset.targets)
            torch.save({'images': images, 'labels': labels, 'classes': dset.classes}, data_path)

        data = torch.load(data_path, map_location=torch.device(gpu))
        self.images, self.labels, self.classes = data['images'], data['labels'], data['classes']
        # It's faster to load+process uint8 data than to load preprocessed fp16 data
        self.images = (self.images.half() / 255).permute(0, 3, 1, 2).to(memory_format=torch.channels_last)
""", """        split = 'train' if train else 'test'
        self.images = torch.from_numpy(ARRAYS['x_' + split])
        self.labels = torch.from_numpy(ARRAYS['y_' + split]).long()
        self.images = (self.images.float() / 255).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
""", 1),
    ("""    net = net.half().cuda()
    net = net.to(memory_format=torch.channels_last)
    for mod in net.modules():
        if isinstance(mod, BatchNorm):
            mod.float()
""", "    net = net.to(memory_format=torch.channels_last)\n", 1),
    ("""    starter = torch.cuda.Event(enable_timing=True)
    ender = torch.cuda.Event(enable_timing=True)
""", "", 1),
    ("starter.record()", "t0 = time.perf_counter()", 3),
    ("""        ender.record()
        torch.cuda.synchronize()
        total_time_seconds += 1e-3 * starter.elapsed_time(ender)""",
     "        total_time_seconds += time.perf_counter() - t0", 1),
    ("""    ender.record()
    torch.cuda.synchronize()
    total_time_seconds += 1e-3 * starter.elapsed_time(ender)""",
     "    total_time_seconds += time.perf_counter() - t0", 2),
    ("            outputs = model(inputs)\n",
     "            with torch.autocast(**AUTOCAST):\n                outputs = model(inputs)\n", 1),
    ("    with torch.no_grad():\n        return torch.cat",
     "    with torch.no_grad(), torch.autocast(**AUTOCAST):\n        return torch.cat", 1),
    ("""    logits = infer(model, loader, tta_level)
    return (logits.argmax(1) == loader.labels).float().mean().item()""",
     """    logits = infer(model, loader, tta_level)
    correct = (logits.argmax(1) == loader.labels).float()
    SCORES.append(dict(tta_level=tta_level, all=correct.mean().item(), exact=correct[:EXACT_TEST].mean().item(),
                       jpeg=correct[EXACT_TEST:].mean().item()))
    return correct.mean().item()""", 1),
)


def read_source(source: Path | None) -> str:
    """airbench94's file at :data:`COMMIT`, from ``source`` or downloaded; a ``ValueError`` if it is another."""
    if source is None:
        url = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/{PATH}"
        try:
            data = urllib.request.urlopen(url, timeout=60).read()
        except OSError as error:
            raise OSError(f"cannot download {url} ({error}); clone {REPOSITORY} and pass --source <clone>/{PATH}") \
                from None
    else:
        data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise ValueError(f"{source or PATH} is not {PATH} of {REPOSITORY} at {COMMIT[:7]} (its SHA-256 differs)")
    return data.decode()


def for_this_machine(code: str) -> str:
    """``code`` with :data:`REPLACEMENTS` applied, each checked to occur exactly as often as expected."""
    for old, new, count in REPLACEMENTS:
        if code.count(old) != count:
            raise ValueError(f"expected {count} occurrence(s) of {old.splitlines()[0].strip()!r}, "
                             f"found {code.count(old)}")
        code = code.replace(old, new)
    return code


def run_seed(code: str, arrays: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """Train airbench94 once (seed ``seed``) and score it: its final test-time-augmented evaluation and the one
    without augmentation just before it, each on all / exact / JPEG test images (percent)."""
    namespace: dict[str, Any] = dict(__name__="airbench94", ARRAYS=arrays, SCORES=[], EXACT_TEST=EXACT_TEST,
                                     time=time)
    exec(compile(code, PATH, "exec"), namespace)  # noqa: S102 - the pinned file, checked by its SHA-256
    torch.manual_seed(seed)
    start = time.perf_counter()
    namespace["main"](seed)
    wall = time.perf_counter() - start
    final, plain = namespace["SCORES"][-1], namespace["SCORES"][-2]
    pct = lambda score: {k: round(100 * v, 2) for k, v in score.items() if k != "tta_level"}  # noqa: E731
    return dict(seed=seed, test=pct(final), test_without_tta=pct(plain), wall_seconds=round(wall, 1),
                epochs=namespace["hyp"]["opt"]["train_epochs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default="0,1")
    parser.add_argument("--source", type=existing_file(".py"), default=None,
                        help=f"a local copy of {PATH} at {COMMIT[:7]} (default: download it)")
    parser.add_argument("--out", type=Path, default=Path("figures/anchor_airbench94.json"))
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # airbench94 prints a line per epoch: show it as it comes
    code = for_this_machine(read_source(args.source))
    root = os.environ.get("SYNAPTICNET_DATA")
    arrays = load_arrays("cifar10", root=root, download=False)
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(code, arrays, seed))
        print(rows[-1], flush=True)
    mean = {k: round(float(np.mean([r["test"][k] for r in rows])), 2) for k in ("all", "exact", "jpeg")}
    source = dict(repository=REPOSITORY, commit=COMMIT, path=PATH, sha256=SHA256)
    seed_list = ",".join(map(str, args.seeds))
    command = f"SYNAPTICNET_DATA=../shared/data python scripts/anchor_airbench94.py --seeds {seed_list}"
    result = dict(description=__doc__.split("\n\n")[1].replace("\n", " "), source=source,
                  data=dataset_provenance("cifar10", root), published_test_accuracy=PUBLISHED, rows=rows,
                  mean_test=mean, cpu_threads=torch.get_num_threads(),
                  torch=torch.__version__, precision="bfloat16 autocast (float32 weights)", command=command)
    save_json(result, args.out)
    print(mean, f"wrote {args.out}")


if __name__ == "__main__":
    script(main)
