"""Numbers in prose are data: find every number with a unit that no measurement or setting backs.

Results live in JSON (``figures/**/*.json``, ``synapticnet/expected_times.json``), settings in
``synapticnet/profiles.py``, numbers quoted from papers in ``synapticnet/published.json`` (each with its
source). Hand-written text — the markdown cells of every notebook, README.md outside the block that
``scripts/update_readme.py`` generates, the Makefile's help and comments, the profiles' descriptions —
may only repeat them. This script reads that text, finds every number followed (or preceded) by a
unit, and looks the number up among the values of the right kind, at the precision it is printed
with; a number found nowhere is reported with its file, cell or line, and context.

**Units and where their numbers may come from** (:data:`SOURCES`):

* ``%``, ``×`` (after or before the number), ``parameters``, ``GFLOP/s``, ``images/s``, and bare
  ``155k``/``5.07M`` — a value of that kind in the JSON files (read from the field's name:
  :data:`_KEY_KINDS`; a ratio never backs a percentage), a profile or budget setting, a published
  number; for ``%`` also the value × 100 (fractions are stored), for GFLOP/s also TFLOP/s × 1000.
* ``points``/``pp`` and signed decimals — differences and spreads only: fields named like ``mean``,
  ``low``/``high``, ``std``, ``differences``, ``bwt``, ``forgetting``, ``tolerance`` (× 1 or × 100).
* ``min``, ``s``, ``h`` — only time values: JSON fields named like ``seconds``/``wall``/``time`` that
  hold a notebook's, a run's or a study's total, wall time or mean (in seconds: shown ÷ 60 as minutes;
  not one seed's or one task's), and the run-time totals :func:`make_help.time_totals` computes
  for the Makefile help.
* ``seeds`` — lengths of ``seeds`` lists and fields named like ``seeds``.
* ``batch N`` — batch sizes of the profiles and budgets (and ``batch`` fields in the JSON).
* ``epochs`` — epochs of the profiles and budgets (and ``epochs`` fields in the JSON).
* ``lines`` — only in a notebook: the line count of one of its own code cells.
* In a notebook, every number may also come from its own printed outputs (the run that wrote them), in
  the unit it was printed with (a printed ``15 s`` does not back ``15 minutes``).

**Which files:** a notebook may quote its own ``figures/NN_*`` files and the results files it names
(``growth_front.json``, or ``make front`` for the files that command writes: :data:`MAKE_FILES`); a README
paragraph the files it or its section's first paragraph names, any file when neither names one.
Run times, settings and published numbers may be quoted anywhere.

**Matching at printed precision:** ``75.10 %`` matches a value ``v`` with ``round(v, 2) == 75.10`` or
``round(100 v, 2) == 75.10`` (so 0.7510 and 75.1 both match); ``about 30 min`` a time whose minutes round
to 30.0 (a whole number is read as exact, to within 0.05: a measured value is written with the decimals it
is printed with elsewhere; ``155k`` is matched to the thousand). The sign is ignored (``2.45 points
below`` is a difference of −2.45). Ranges and lists share the unit of their last number: ``2.6–4.5 min``,
``63.05 / 63.39 / 59.69 %``, ``0.45 / 0.65×``. Intervals ``[−2.49, −0.71]``, ``interval −0.45 to +0.07``
and any signed decimal (``+0.09``, ``−2.91``: a difference) are checked as points. Spelled-out counts
(``three seeds``, ``about two minutes``) count.

**How strict it is:** at two decimals a wrong percentage passes only if some value of the right kind in scope
rounds to it; measured on the data of 2026-12-03, a random 50–100 % with two decimals is backed by chance 3 %
of the time in notebook 04's scope and 9 % in the README's front section; a random difference of 0–5 points
with two decimals 18 % and 34 %; a ratio of 0–3 with two decimals 5 % and 17 %; a time 2–3 %. A number written with fewer decimals, or a
small difference, is a weaker check than a percentage.

**Not read:** code (fenced blocks, inline ``code``), link targets, HTML comments, the README's generated
results block and the notebooks' run-time line (both written from the JSON by scripts, and tested).

Usage: ``python scripts/prose_numbers.py [--root .] [--explain]`` — prints every offending number
(exit 1), or with ``--explain`` also where each accepted number was found.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import importlib.util
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent


def _sibling(name: str) -> Any:
    """A script next to this one, loaded as a module without putting scripts/ on ``sys.path``."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_help = _sibling("make_help")  # the run-time totals the Makefile help states (stdlib only: no torch)

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
TIME_LINE_MARK = "<!-- written by scripts/run_notebooks.py from synapticnet/expected_times.json -->"
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
         "ten": 10, "eleven": 11, "twelve": 12}

# A number: optional sign, digits with optional thousands commas, optional decimals; not part of a word, a
# version (2.14.1), a date or an identifier (CIFAR-10, T4, 784-100-10, 3x32x32).
_NUMBER = re.compile(r"(?<![\w.,/²])(?P<sign>[−+-]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?"
                     r"(?P<mult>[kM](?![\w]))?(?![\w²³]|\.\d|,\d{3})")
_WORD = re.compile(r"\b(?P<word>" + "|".join(WORDS) + r")\b", re.IGNORECASE)
# unit right after a number: (kind, pattern); the first that matches wins
SUFFIX_UNITS: list[tuple[str, re.Pattern[str]]] = [(kind, re.compile(pattern)) for kind, pattern in [
    ("percent", r"\s?%"),
    ("points", r"\s(?:percentage\s)?(?:points?|pp)\b"),
    ("gflops", r"\s?GFLOP/s"),
    ("tflops", r"\s?TFLOP/s"),
    ("images_per_second", r"\s?images/s\b"),
    ("minutes", r"\s?min(?:utes?)?\b"),
    ("hours", r"\s?h(?:ours?)?\b"),
    ("seconds", r"\s?(?:s|secs?|seconds?)\b(?![/'’])"),
    ("seeds", r"\s(?:seeds?)\b"),
    ("lines", r"(?:\s|-)lines?\b"),
    ("parameters", r"\s?(?:[kM]\s)?(?:parameters?|params?)\b"),
    ("epochs", r"\s(?:epochs?)\b"),
    ("ratio", r"×(?!\s?\d)"),  # 0.45× (attached): not 3×3 or 3 × 32 (sizes, products)
]]
PREFIX_UNITS: list[tuple[str, re.Pattern[str]]] = [
    ("ratio", re.compile(r"(?<!\d)×$")),  # ×0.5 (attached): not 3×3 or 8 × 8
    ("batch", re.compile(r"\bbatch(?:\ssize)?(?:\sof)?\s$", re.IGNORECASE)),
]
_CHAIN = re.compile(r"^\s?(?:–|—|-|to|/|vs\.?|and|or|→|±)\s?$")  # joins a range or list that shares one unit
_INTERVAL = re.compile(r"\[\s*(?P<a>[−+-]?\d+(?:\.\d+)?),\s*(?P<b>[−+-]?\d+(?:\.\d+)?)\s*\]"
                       r"|\binterval\s+(?P<c>[−+-]?\d+(?:\.\d+)?)\s+to\s+(?P<d>[−+-]?\d+(?:\.\d+)?)")

# which pools (and at which scale: printed = stored × scale) may back a number of each kind
SOURCES: dict[str, list[tuple[str, float]]] = {
    "percent": [("percent", 1), ("percent", 100)],
    "points": [("points", 1), ("points", 100)],
    "ratio": [("ratio", 1)],
    "parameters": [("number", 1)],
    "count": [("number", 1)],
    "gflops": [("number", 1), ("number", 1000)],
    "tflops": [("number", 1), ("number", 0.001)],
    "images_per_second": [("number", 1)],
    "minutes": [("seconds", 1 / 60), ("minutes", 1)],
    "hours": [("seconds", 1 / 3600), ("minutes", 1 / 60)],
    "seconds": [("seconds", 1), ("minutes", 60)],
    "seeds": [("seeds", 1)],
    "batch": [("batch", 1)],
    "epochs": [("epochs", 1)],
    "lines": [("lines", 1)],
}
# What a JSON field holds, read from its name (the last non-index part of its path): a value goes only into the
# pools of its kind, so that a time never backs a percentage nor a seed count a ratio.
_KEY_KINDS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [(re.compile(pattern, re.IGNORECASE), kinds) for
                                                              pattern, kinds in [
    (r"per_second|flop", ("number",)),
    (r"minute", ("minutes",)),
    (r"seconds|wall|(?:^|_)time$|(?:^|_)s$", ("seconds",)),  # only totals and means: see _TIME_TOTAL
    (r"capacity|utilisation|(?:^|_)share(?:$|_)", ("ratio", "percent")),
    (r"ratio|speedup|_over_|(?:^|_)over|width|growth|fraction|factor|scale", ("ratio",)),
    # differences and spreads, in points (or fractions of one): what "points" may quote
    (r"mean|low$|high$|std|differ|bwt|fwt|forget|gap|delta|(?:^|_)drop(?:$|_)|gain|tolerance|margin|point",
     ("percent", "points")),
    (r"seed", ("seeds",)),
    (r"batch", ("batch",)),
    (r"epoch", ("epochs",)),
    (r"param|weights|(?:^|_)n_|count|size|images|steps|total", ("number",)),
]]
# Time fields inside these parts of a file are per-run details (every seed, every compaction candidate): a time
# stated in prose is a notebook's, a study's or a configuration's, never one run's.
_DETAIL_PARTS = {"runs", "compaction", "tried", "differences"}
# Not quoted as results: candidates a compaction tried and rejected, and the per-seed paired differences behind an
# interval (prose quotes the mean and the interval; a notebook may quote what it printed). Leaving them out keeps
# small differences from being backed by chance.
_DROPPED_PARTS = {"tried", "differences"}
# Text fields that describe rather than measure (a profile's description, the command, versions, sources).
_NOT_DATA_TEXT = re.compile(r"description|command|platform|torch|python|finished|source|processor|note$",
                            re.IGNORECASE)
# Files every passage may use (the README's, the Makefile's and the profiles' prose may use any figures file too;
# a notebook only the figures files it names and its own NN_* files).
SHARED = "shared"
# The times prose may state: a notebook's, a whole run's or study's (totals, wall times), a configuration's mean —
# not one task's or one seed's.
_TIME_TOTAL = re.compile(r"total|wall|mean|^seconds$", re.IGNORECASE)

@dataclass
class Pool:
    """Values of one kind, sorted, each with where it came from (for ``--explain``)."""

    values: list[float] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    _sorted: list[tuple[float, str]] | None = None

    def add(self, value: float, where: str) -> None:
        self.values.append(abs(float(value)))
        self.where.append(where)
        self._sorted = None

    def find(self, low: float, high: float) -> str | None:
        """Where a value in ``[low, high]`` came from, or None."""
        if self._sorted is None:
            self._sorted = sorted(zip(self.values, self.where))
        i = bisect.bisect_left(self._sorted, (low, ""))
        return self._sorted[i][1] if i < len(self._sorted) and self._sorted[i][0] <= high else None


@dataclass(frozen=True)
class Number:
    """One number with a unit in a piece of prose."""

    text: str  # as printed, e.g. "75.10" or "155k"
    value: float  # absolute value, multiplier applied
    decimals: int
    kind: str  # a key of SOURCES
    unit: str  # the unit as printed, e.g. "%" or " min"


@dataclass(frozen=True)
class Finding:
    """A number no source backs, and where it is."""

    where: str  # "README.md:42", "notebooks/05_growth_studies.ipynb cell 12 line 3"
    number: str  # "30 min"
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {self.number!r} in “{self.context}”"


# --- reading the prose ------------------------------------------------------------------------------


def _strip_markup(text: str) -> str:
    """Prose only: code spans, link targets, HTML comments and URLs replaced by spaces (positions kept)."""
    def blank(m: re.Match[str]) -> str:
        return " " * len(m.group(0))

    text = re.sub(r"<!--.*?-->", blank, text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", blank, text)
    text = re.sub(r"\]\([^)\s]*\)", lambda m: "]" + " " * (len(m.group(0)) - 1), text)
    text = re.sub(r"https?://\S+", blank, text)
    text = re.sub(r"<img[^>]*>", blank, text)
    return text


def _without_fences(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(line number from 1, line) of markdown outside fenced code blocks."""
    fenced = False
    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield i, line


def numbers_with_units(line: str) -> list[tuple[Number, int, int]]:
    """Every number with a unit in one line of prose: (number, start, end) — see the module docstring."""
    text = _strip_markup(line)
    raw = []  # (start, end, digits, decimals, multiplier or "word" or "signed")
    for m in _NUMBER.finditer(text):
        start = m.start()
        if m.group("sign") == "-" and start > 0 and text[start - 1].isalnum():
            continue  # a hyphen joining words: CIFAR-10
        if m.group("sign") == "" and start > 1 and text[start - 1] in "-−" and text[start - 2].isalpha():
            continue  # the same, after a letter: ResNet−18
        # +0.09, −2.91: a difference — but not the result of a worked example ("BWT = 0.80 − 0.99 = −0.19")
        signed = m.group("sign") in ("+", "−") and bool(m.group("dec")) and not text[:start].rstrip().endswith("=")
        raw.append((m.start(), m.end(), m.group("int").replace(",", ""), m.group("dec") or "",
                    m.group("mult") or ("signed" if signed else "")))
    for m in _WORD.finditer(text):
        raw.append((m.start(), m.end(), str(WORDS[m.group("word").lower()]), "", "word"))
    raw.sort()
    units: list[tuple[str, str] | None] = []
    for start, end, _, _, mult in raw:
        after, before = text[end:], text[:start]
        unit = next(((kind, m.group(0)) for kind, pattern in SUFFIX_UNITS if (m := pattern.match(after))), None)
        if unit is None:
            unit = next(((kind, m.group(0)) for kind, pattern in PREFIX_UNITS if (m := pattern.search(before))), None)
        if unit is None and mult in ("k", "M"):
            unit = ("count", "")
        if unit is None and mult == "signed":
            unit = ("points", " (difference)")
        if mult == "word" and (unit is None or unit[0] not in ("seeds", "epochs", "minutes", "hours", "seconds")):
            unit = None  # spelled out: seeds, epochs and times ("one line" is not a line count)
        units.append(unit)
    for i in range(len(raw) - 2, -1, -1):  # a range or list shares the unit of its last number
        if (units[i] is None or units[i][1] == " (difference)") and units[i + 1] is not None and \
                raw[i][4] != "word" and \
                _CHAIN.match(text[raw[i][1]:raw[i + 1][0]]) and units[i + 1][0] != "batch":
            units[i] = units[i + 1]
    for m in _INTERVAL.finditer(text):
        for key in ("a", "b", "c", "d"):
            if m.group(key) is None:
                continue
            start = m.start(key)
            for k, r in enumerate(raw):
                if r[0] <= start < r[1] and units[k] is None:
                    units[k] = ("points", " (interval)")
    found = []
    for (start, end, digits, decimals, mult), unit in zip(raw, units):
        if unit is None:
            continue
        kind, printed = unit
        scale = {"k": 1e3, "M": 1e6}.get(mult, 1.0)  # (mult may also be "word" or "signed": scale 1)
        if kind == "parameters" and printed.strip().startswith(("k", "M")):
            scale = {"k": 1e3, "M": 1e6}[printed.strip()[0]]
        value = float(f"{digits}.{decimals}" if decimals else digits) * scale
        found.append((Number(text=line[start:end], value=value, decimals=len(decimals) if scale == 1 else
                             len(decimals) - (3 if scale == 1e3 else 6), kind=kind, unit=printed), start, end))
    return found


@dataclass(frozen=True)
class Passage:
    """One line of hand-written text, the notebook it belongs to (for its outputs and code cells) and the results
    files it may quote (None: any)."""

    where: str
    text: str
    notebook: str | None = None
    scope: frozenset[str] | None = None


# The results files a ``make`` target writes: a README section that names the command quotes those files.
MAKE_FILES: dict[str, tuple[str, ...]] = {
    "front": ("growth_front.json", "front_pick.json", "front_sparsity.json"),
    "criteria": ("pruning_criteria.json",),
    "pmnist": ("permuted_mnist.json",),
    "original": ("original_run.json",),
    "bench": ("train.json", "layers.json", "data_path.json", "flops.json"),
    "ablation": ("ablation_paired.json", "ablation.json"),
    "baselines": ("04_baselines.json",),
}


def named_files(text: str) -> frozenset[str] | None:
    """The results files a piece of the README names: JSON files (``growth_front.json``) and those of the ``make``
    targets it names (:data:`MAKE_FILES`); None when it names none, or names ``make reproduce``/``make student``
    (every notebook's results)."""
    targets = set(re.findall(r"make (\w+)", text))
    if targets & {"reproduce", "student"}:
        return None
    files = {Path(name).name for name in re.findall(r"[\w/.-]+\.json", text)}
    files |= {f for target in targets for f in MAKE_FILES.get(target, ())}
    return frozenset(files) or None


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) line indices of the blank-line separated paragraphs (a heading is a paragraph of its own)."""
    spans, start = [], None
    for i, line in enumerate([*lines, ""]):
        if not line.strip() or line.startswith("#"):
            if start is not None:
                spans.append((start, i))
            start = None
            if line.startswith("#"):
                spans.append((i, i + 1))
        elif start is None:
            start = i
    return spans


def readme_passages(path: Path, root: Path) -> Iterator[Passage]:
    """README.md outside the generated results block and code fences. A line may quote the results files its
    paragraph names and those the first paragraph of its section names (the lead of a list); any file when
    neither names one, or its paragraph names ``make reproduce``/``make student``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    paragraphs = _paragraphs(lines)
    scope_of: dict[int, frozenset[str] | None] = {}
    lead: frozenset[str] | None = None
    after_heading = True
    for start, end in paragraphs:
        if lines[start].startswith("#"):
            lead, after_heading = None, True
            continue
        text = "\n".join(lines[start:end])
        own = named_files(text)
        if after_heading:
            lead, after_heading = own, False
        broad = bool(set(re.findall(r"make (\w+)", text)) & {"reproduce", "student"})
        scope = None if broad or (own is None and lead is None) else (own or frozenset()) | (lead or frozenset())
        for i in range(start, end):
            scope_of[i + 1] = scope
    generated = False
    for i, line in _without_fences(lines):
        if README_START in line:
            generated = True
        if not generated:
            yield Passage(f"{path.relative_to(root)}:{i}", line, scope=scope_of.get(i))
        if README_END in line:
            generated = False


def makefile_passages(path: Path, root: Path) -> Iterator[Passage]:
    """The Makefile's help lines (``@echo "…"``) and comments."""
    for i, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("@echo"):
            yield Passage(f"{path.relative_to(root)}:{i} (help)", stripped[len("@echo"):])
        elif stripped.startswith("#"):
            yield Passage(f"{path.relative_to(root)}:{i}", stripped)


def notebook_passages(path: Path, root: Path) -> Iterator[Passage]:
    """Every line of every markdown cell (but the run-time line the runner writes)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    name = str(path.relative_to(root))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for i, line in _without_fences(source.split("\n")):
            if not line.rstrip().endswith(TIME_LINE_MARK):
                yield Passage(f"{name} cell {index} line {i}", line, notebook=name)


def profile_passages(root: Path) -> Iterator[Passage]:
    """The ``description=`` of every profile in synapticnet/profiles.py (read without importing torch)."""
    sys.path.insert(0, str(root))
    try:
        from synapticnet import profiles
    finally:
        sys.path.remove(str(root))
    for name, profile in profiles.PROFILES.items():
        yield Passage(f"synapticnet/profiles.py: {name}.description", profile.description)


def passages(root: Path) -> Iterator[Passage]:
    """All hand-written text the rule applies to."""
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        yield from notebook_passages(path, root)
    yield from readme_passages(root / "README.md", root)
    yield from makefile_passages(root / "Makefile", root)
    yield from profile_passages(root)


# --- where numbers may come from --------------------------------------------------------------------


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, v in value.items():
            yield from _leaves(v, (*path, str(key)))
    elif isinstance(value, list):
        yield path, value  # the list itself (its length counts seeds)
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, str(i)))
    else:
        yield path, value


def kinds_of(path: tuple[str, ...]) -> tuple[str, ...]:
    """The pools a numeric JSON field belongs to, from its name (see :data:`_KEY_KINDS`); anything else (accuracies,
    differences, intervals, BWT, settings) is a ``percent``/``points`` value."""
    names = [p for p in reversed(path) if not p.isdigit()][:2]  # the field, then its parent (epochs.cifar10)
    for key in names:
        for pattern, kinds in _KEY_KINDS:
            if pattern.search(key):
                if kinds == ("seconds",) and (_DETAIL_PARTS & set(path) or not _TIME_TOTAL.search(key)):
                    return ()
                return kinds
    return ("percent",)


def _add_document(pools: dict[str, Pool], document: Any, name: str) -> None:
    """Every number of one JSON document (and the numbers inside its strings) into the pools of its kind."""
    for path, value in _leaves(document):
        where = f"{name}: {'.'.join(path)}"
        if isinstance(value, list):
            key = next((p for p in reversed(path) if not p.isdigit()), "")
            if re.search(r"seed", key, re.IGNORECASE):
                pools["seeds"].add(len(value), f"{where} (count)")
            continue
        if _DROPPED_PARTS & set(path):
            continue
        if isinstance(value, str):  # labels ("conv-reuse ×0.25"), notes ("68.20 vs 69.75 %")
            if _NOT_DATA_TEXT.search(path[-1] if path else ""):
                continue
            for m in _NUMBER.finditer(value):
                number = float(m.group("int").replace(",", "") + (f".{m.group('dec')}" if m.group("dec") else ""))
                kinds = ("ratio",) if value[:m.start()].endswith("×") or value[m.end():].startswith("×") else \
                    ("percent", "number")
                for kind in kinds:
                    pools[kind].add(number, f"{where} (text)")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        for kind in kinds_of(path):
            pools[kind].add(value, where)


def _profile_settings(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    sys.path.insert(0, str(root))
    try:
        from synapticnet import profiles
    finally:
        sys.path.remove(str(root))
    for name, profile in profiles.PROFILES.items():
        yield f"profile {name}", profile.to_dict()
        for budget in profiles.BUDGETS:
            yield f"budget({budget!r}, {name!r})", profiles.budget(budget, profile).to_dict()
    yield "profiles.RETRAIN", json.loads(json.dumps(profiles.RETRAIN.__dict__))


def _module_constants(path: Path) -> Iterator[tuple[str, float]]:
    """Module-level numeric constants (``SLOWEST_MACHINE_FACTOR = 4.0``) of a source file, read with ``ast``."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target if isinstance(node, ast.AnnAssign) \
            else None
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and \
                isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            yield f"{path.name}: {target.id}", value.value


def sources(root: Path) -> dict[str, dict[str, Pool]]:
    """Pools per source: ``SHARED`` (run times, published numbers, settings) and one per figures JSON file."""
    by_file: dict[str, dict[str, Pool]] = {}
    for path in sorted((root / "figures").rglob("*.json")):
        pools: dict[str, Pool] = defaultdict(Pool)
        _add_document(pools, json.loads(path.read_text(encoding="utf-8")), str(path.relative_to(root)))
        by_file[str(path.relative_to(root))] = pools
    shared: dict[str, Pool] = defaultdict(Pool)
    times_path = root / "synapticnet" / "expected_times.json"
    _add_document(shared, json.loads(times_path.read_text(encoding="utf-8")), str(times_path.relative_to(root)))
    for name, minutes in make_help.time_totals(root).items():  # the same totals the help prints
        shared["minutes"].add(minutes, f"make_help.time_totals: {name}")
    published = root / "synapticnet" / "published.json"
    for entry in json.loads(published.read_text(encoding="utf-8"))["numbers"]:
        for kind in ("percent", "ratio", "number"):
            shared[kind].add(entry["value"], f"synapticnet/published.json: {entry['what']} ({entry['source']})")
    for name, settings in _profile_settings(root):
        _add_document(shared, settings, name)
    for module in ("workspace.py", "profiles.py"):
        for where, value in _module_constants(root / "synapticnet" / module):
            for kind in ("percent", "ratio", "number"):
                shared[kind].add(value, where)
    by_file[SHARED] = shared
    return by_file


def notebook_pools(path: Path) -> dict[str, Pool]:
    """A notebook's own printed outputs (every kind) and the line counts of its code cells (``lines``)."""
    pools: dict[str, Pool] = defaultdict(Pool)
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = source.strip("\n").split("\n")
        pools["lines"].add(len(lines), f"cell {index}: lines")
        pools["lines"].add(sum(1 for line in lines if line.strip() and not line.strip().startswith("#")),
                           f"cell {index}: lines of code")
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain") or ""
            text = "".join(text) if isinstance(text, list) else text
            for line in text.split("\n"):
                _add_printed_line(pools, line, f"cell {index}: printed output")
    return pools


# the pool a printed number with a unit backs, and the scale to its stored form (printed hours → minutes)
_PRINTED_POOL: dict[str, tuple[str, float]] = {
    "percent": ("percent", 1), "points": ("points", 1), "ratio": ("ratio", 1), "minutes": ("minutes", 1),
    "hours": ("minutes", 60), "seconds": ("seconds", 1), "seeds": ("seeds", 1), "batch": ("batch", 1),
    "epochs": ("epochs", 1), "parameters": ("number", 1), "count": ("number", 1), "gflops": ("number", 1),
    "tflops": ("number", 1), "images_per_second": ("number", 1)}


def _add_printed_line(pools: dict[str, Pool], line: str, where: str) -> None:
    """One line a notebook printed: a number with a unit backs prose of that unit only (a printed "15 s" is not
    "15 minutes"); a number without one backs counts, percentages, ratios and settings, never a time."""
    with_unit = {start: number for number, start, _ in numbers_with_units(line)}
    for m in _NUMBER.finditer(_strip_markup(line)):
        value = float(m.group("int").replace(",", "") + (f".{m.group('dec')}" if m.group("dec") else ""))
        number = with_unit.get(m.start())
        if number is not None:
            pool, scale = _PRINTED_POOL.get(number.kind, ("number", 1))
            pools[pool].add(number.value * scale, f"{where} ({number.text}{number.unit.rstrip()})")
        else:
            for pool in ("percent", "points", "ratio", "number", "seeds", "batch", "epochs"):
                pools[pool].add(value, where)


def notebook_files(path: Path, root: Path, files: list[str]) -> list[str]:
    """The figures JSON files a notebook may quote: its own ``NN_*`` files, every one it names, and those of the
    ``make`` targets it names (:data:`MAKE_FILES`)."""
    text = path.read_text(encoding="utf-8")
    prefix = path.name[:3]
    made = {f for target in re.findall(r"make (\w+)", text) for f in MAKE_FILES.get(target, ())}
    return [f for f in files if f != SHARED and (Path(f).name.startswith(prefix) or Path(f).name in text
                                                 or Path(f).name in made)]


def backed_by(number: Number, pools: list[dict[str, Pool]]) -> str | None:
    """Where a value printing as ``number`` came from (at its printed precision), or None."""
    # at printed precision; a whole number without k/M is read as exact (within 0.05): "about 30 min" is not
    # backed by 29.6 min, and a rounded value is written with its decimals
    half = 0.05 if number.decimals == 0 else 0.5 * 10.0 ** -number.decimals
    for pool_name, scale in SOURCES[number.kind]:
        low, high = (number.value - half) / scale, (number.value + half) / scale
        low, high = min(low, high) - 1e-9 * abs(low), max(low, high) + 1e-9 * abs(high)
        for pool in pools:
            if pool_name in pool and (where := pool[pool_name].find(low, high)) is not None:
                return where
    return None


def check(root: Path = ROOT, explain: bool = False) -> tuple[list[Finding], list[str]]:
    """Every number with a unit in the hand-written text that no source backs; with ``explain`` also the backed ones."""
    by_file = sources(root)
    everything = list(by_file.values())
    scoped: dict[str, list[dict[str, Pool]]] = {}
    findings, backed = [], []
    for passage in passages(root):
        pools = everything
        if passage.scope is not None:
            pools = [by_file[SHARED], *(p for f, p in by_file.items() if Path(f).name in passage.scope)]
        if passage.notebook is not None:
            if passage.notebook not in scoped:
                path = root / passage.notebook
                scoped[passage.notebook] = [by_file[SHARED], notebook_pools(path),
                                            *(by_file[f] for f in notebook_files(path, root, list(by_file)))]
            pools = scoped[passage.notebook]
        for number, start, end in numbers_with_units(passage.text):
            printed = f"{number.text}{number.unit}" if number.kind != "batch" and number.unit else number.text
            if number.kind == "ratio" and not passage.text[end:].startswith(number.unit):
                printed = f"×{number.text}"
            if number.kind == "batch":
                printed = f"batch {number.text}"
            where = backed_by(number, pools)
            context = passage.text[max(0, start - 60):end + 40].strip()
            if where is None:
                findings.append(Finding(passage.where, printed.strip(), context))
            elif explain:
                backed.append(f"{passage.where}: {printed.strip()!r} <- {where}")
    return findings, backed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to check (default: this one)")
    parser.add_argument("--explain", action="store_true", help="also print where every accepted number came from")
    args = parser.parse_args(argv)
    findings, backed = check(args.root.resolve(), explain=args.explain)
    for line in backed:
        print(f"ok  {line}")
    for finding in findings:
        print(finding)
    print(f"{len(findings)} number{'s' if len(findings) != 1 else ''} in prose backed by no JSON, setting or "
          "published source" + (" (see scripts/prose_numbers.py for what counts)" if findings else ""))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
