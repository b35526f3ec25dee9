"""Difference-awareness task rows: load (JSONL, CSV or a pickled table), validate, split.

A row is `{id, question, label, benchmark, condition}`: `label` YES means a correct answer has to
recognise a difference between groups, NO means the groups must be treated alike; `benchmark` names
the suite (D1–D4 descriptive, N1–N4 normative in the paper) and `condition` the row's variant within
it. The split is stratified by (benchmark, condition) and seeded, as the paper's `datasets.py`.
A bad row is a DataError naming the file and line (row number for a pickle).
"""

from __future__ import annotations

import csv
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


def _pickle(path: Path) -> Iterable[tuple[Any, str]]:
    import pandas as pd

    table = pd.read_pickle(path)  # the benchmark pickles: a DataFrame (or a list of dicts)
    records = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    for index, row in enumerate(records):
        yield row, f"{path}:row {index}"


def load_tasks(path: Path | str | None = None) -> list[TaskRow]:
    """Rows of a JSONL, CSV or pickle file (by suffix); None = the bundled set. Ids must be unique."""
    path = Path(path) if path is not None else bundled_tasks_path()
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
