"""Difference-awareness task rows: load (JSONL, CSV or a pickled table), validate, split.

A row is `{id, question, label, benchmark, condition}` (the benchmark suite's pickles are read as they
are: `[difference_items, equal_items]` per file, see `_benchmark_pickle`): `label` YES means a correct answer has to
recognise a difference between groups, NO means the groups must be treated alike; `benchmark` names
the suite (D1–D4 descriptive, N1–N4 normative in the paper) and `condition` the row's variant within
it. The split is stratified by (benchmark, condition) and seeded, as the paper's `datasets.py`.
A bad row is a DataError naming the file and line (row number for a pickle).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from demalign.errors import DataError

LABELS = ("YES", "NO")
FIELDS = ("id", "question", "label", "benchmark", "condition")


@dataclass(frozen=True)
class TaskRow:
    id: str
    question: str
    label: str  # YES | NO
    benchmark: str
    condition: str

    def as_record(self) -> dict[str, str]:
        return asdict(self)


def bundled_tasks_path() -> Path:
    """The bundled synthetic set: 8 benchmarks (D1–D4, N1–N4) × 20 rows, written by the team."""
    return Path(str(resources.files("demalign") / "data" / "dart" / "tasks.jsonl"))


def check_row(raw: Any, where: str) -> TaskRow:
    """One validated row; `where` is `file:line` for the error message."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object with fields {list(FIELDS)}, got {type(raw).__name__}")
    missing = [name for name in FIELDS if raw.get(name) is None or str(raw.get(name)).strip() == ""]
    if missing:
        raise DataError(f"{where}: missing field(s) {missing}; a task row needs {list(FIELDS)}")
    label = str(raw["label"]).strip()
    if label not in LABELS:
        raise DataError(f"{where}: field label={raw['label']!r}; expected YES or NO")
    return TaskRow(str(raw["id"]), str(raw["question"]), label, str(raw["benchmark"]), str(raw["condition"]))


def _jsonl(path: Path) -> Iterable[tuple[Any, str]]:
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line), f"{path}:{lineno}"
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None


def _csv(path: Path) -> Iterable[tuple[Any, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield dict(row), f"{path}:{reader.line_num}"


def _benchmark_pickle(path: Path, data: Any) -> Iterable[tuple[Any, str]]:
    """The benchmark suite's pickles (`D1_1k.pkl` ...): `[difference_items, equal_items]`, each item
    `[question, answer, scenario_id]` (or a dict with `question`/`scenario_id`). Difference items are
    gold YES (condition `diff`), equal-treatment items gold NO (`equal`); the benchmark is the file
    name before its first `_`. Ids are `<benchmark>:<condition>:<scenario id>:<question hash>`, with
    `#k` appended when the same id repeats (scenario ids repeat in some suites)."""
    benchmark = path.stem.split("_", 1)[0]
    seen: dict[str, int] = {}
    for condition, label, items in (("diff", "YES", data[0]), ("equal", "NO", data[1])):
        for index, item in enumerate(items):
            where = f"{path}:{condition} item {index}"
            if isinstance(item, dict):
                question, scenario = item.get("question") or item.get("prompt"), item.get("scenario_id")
            elif isinstance(item, list | tuple) and item:
                question, scenario = item[0], item[2] if len(item) > 2 else None
            else:
                raise DataError(
                    f"{where}: expected [question, answer, scenario_id] or a dict, got {type(item).__name__}"
                )
            digest = hashlib.sha256(str(question).encode("utf-8")).hexdigest()[:8]
            base = f"{benchmark}:{condition}:{scenario if scenario not in (None, '') else '-'}:{digest}"
            repeat = seen.get(base, 0)
            seen[base] = repeat + 1
            row = {"id": base if not repeat else f"{base}#{repeat}", "question": question, "label": label,
                   "benchmark": benchmark, "condition": condition}  # fmt: skip
            yield row, where


def _pickle(path: Path) -> Iterable[tuple[Any, str]]:
    import pickle

    import pandas as pd

    with open(path, "rb") as handle:
        data = pickle.load(handle)  # a user's own file (pickles run code: load only files you trust)
    if isinstance(data, pd.DataFrame):
        for index, row in enumerate(data.to_dict("records")):
            yield row, f"{path}:row {index}"
    elif (
        isinstance(data, list | tuple)
        and len(data) == 2
        and all(isinstance(part, list | tuple) for part in data)
    ):
        yield from _benchmark_pickle(path, data)
    elif isinstance(data, list | tuple):
        for index, row in enumerate(data):
            yield row, f"{path}:row {index}"
    else:
        raise DataError(
            f"{path}: a pickle of a table, a list of rows, or the benchmark suite's [difference_items, equal_items]; "
            f"got {type(data).__name__}"
        )


def load_tasks(path: Path | str | None = None) -> list[TaskRow]:
    """Rows of a JSONL, CSV or pickle file (by suffix), or of every `*.pkl` in a folder (the benchmark
    suite: D1_1k.pkl ... N4_1k.pkl); None = the bundled set. Ids must be unique."""
    path = Path(path) if path is not None else bundled_tasks_path()
    if path.is_dir():
        files = sorted(path.glob("*.pkl"))
        if not files:
            raise DataError(f"{path}: a task folder holds the benchmark pickles (*.pkl); found none")
        rows = [row for file in files for row in load_tasks(file)]
        _check_unique(rows, str(path))
        return rows
    if not path.is_file():
        raise DataError(f"{path}: no such task file (JSONL, CSV or .pkl with fields {list(FIELDS)})")
    readers = {".jsonl": _jsonl, ".json": _jsonl, ".csv": _csv, ".pkl": _pickle, ".pickle": _pickle}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unknown task file type {path.suffix!r}; use .jsonl, .csv or .pkl")
    rows: list[TaskRow] = []
    seen: dict[str, str] = {}
    for raw, where in reader(path):
        row = check_row(raw, where)
        if row.id in seen:
            raise DataError(f"{where}: id {row.id!r} repeats the row at {seen[row.id]}")
        seen[row.id] = where
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no task rows")
    return rows


def _check_unique(rows: Sequence[TaskRow], where: str) -> None:
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DataError(f"{where}: ids repeat across files: {repeated}")


def stratified_split(
    rows: Sequence[TaskRow], test_ratio: float, seed: int
) -> tuple[list[TaskRow], list[TaskRow]]:
    """(train, test): within each (benchmark, condition) stratum, a seeded shuffle and
    round(test_ratio · n) rows to test (at least one when the stratum has two or more rows and the
    ratio is > 0). Deterministic for a seed; rows keep their file order within each part.

    Example: a stratum of 10 rows at test_ratio 0.3 puts 3 in test and 7 in train."""
    if not 0 <= test_ratio < 1:
        raise ValueError(f"test_ratio must be in [0, 1), got {test_ratio}")
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        strata[(row.benchmark, row.condition)].append(index)
    test: set[int] = set()
    for key in sorted(strata):
        members = strata[key][:]
        random.Random(f"{seed}:{key[0]}:{key[1]}").shuffle(members)
        k = round(test_ratio * len(members))
        if test_ratio > 0 and len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        test.update(members[:k])
    return [r for i, r in enumerate(rows) if i not in test], [r for i, r in enumerate(rows) if i in test]


def seeded_subset(rows: Sequence[TaskRow], limit: int | None, seed: int) -> list[TaskRow]:
    """At most `limit` rows, a seeded sample kept in file order (None = all)."""
    if limit is None or limit >= len(rows):
        return list(rows)
    keep = set(random.Random(f"{seed}:subset").sample(range(len(rows)), int(limit)))
    return [row for i, row in enumerate(rows) if i in keep]


def configured_split(node: Any) -> tuple[list[TaskRow], list[TaskRow], Path]:
    """(train, test, source file) of the `dart_tasks` group: load, stratified split, optional subsets."""
    path = Path(node.path).expanduser() if node.path else bundled_tasks_path()
    train, test = stratified_split(load_tasks(path), float(node.test_ratio), int(node.split_seed))
    seed = int(node.split_seed)
    return seeded_subset(train, node.max_train, seed), seeded_subset(test, node.max_test, seed + 1), path
