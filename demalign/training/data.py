"""`dataset.jsonl` → train/eval `datasets.Dataset`s in TRL's preference format, weights normalised."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from demalign.artifacts import read_jsonl
from demalign.errors import DataError
from demalign.training.weighted_dpo import WEIGHT_COLUMN, normalize_weights

PAIR_FIELDS = ("prompt", "chosen", "rejected")


def load_pairs(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a `dataset.jsonl` (prompt/chosen/rejected required; weight optional but all-or-none).

    Only the columns TRL needs are kept (ids are strings in some rows and ints in others, which Arrow
    would reject). Chat rows (message lists) and raw rows (strings) must not be mixed.
    """
    rows = read_jsonl(Path(path), required=PAIR_FIELDS)
    if not rows:
        raise DataError(
            f"{path}: no preference pairs; run stage=prepare or point train.dataset at a non-empty file"
        )
    with_weight = sum(WEIGHT_COLUMN in row for row in rows)
    if with_weight not in (0, len(rows)):
        missing = next(i for i, row in enumerate(rows, start=1) if WEIGHT_COLUMN not in row)
        raise DataError(f"{path}: {with_weight} of {len(rows)} rows have a weight; row {missing} has none")
    chat = isinstance(rows[0]["prompt"], list)
    for lineno, row in enumerate(rows, start=1):
        if any(isinstance(row[name], list) != chat for name in PAIR_FIELDS):
            raise DataError(
                f"{path}:{lineno}: prompt/chosen/rejected mix chat messages and plain strings; "
                "use one dataset.format for the whole file"
            )
    keep = (*PAIR_FIELDS, WEIGHT_COLUMN) if with_weight else PAIR_FIELDS
    return [{name: row[name] for name in keep} for row in rows]


def split_pairs(
    rows: Sequence[dict[str, Any]], eval_ratio: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shuffle with `seed` and hold out round(eval_ratio·n) rows (at least 1 when eval_ratio > 0 and n ≥ 2).

    Example: 10 rows, eval_ratio 0.2 → 8 train, 2 eval; eval_ratio 0 → 10 train, 0 eval.
    """
    if not 0 <= eval_ratio < 1:
        raise DataError(f"train.eval_ratio={eval_ratio} must be in [0, 1)")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_eval = (
        0 if eval_ratio == 0 or len(rows) < 2 else min(len(rows) - 1, max(1, round(eval_ratio * len(rows))))
    )
    held_out = [rows[i] for i in order[:n_eval]]
    train = [rows[i] for i in order[n_eval:]]
    return train, held_out


def to_dataset(rows: Sequence[dict[str, Any]], where: str) -> Any:
    """A `datasets.Dataset` of the rows, with weights rescaled to mean 1 over these rows."""
    from datasets import Dataset

    rows = [dict(row) for row in rows]
    if rows and WEIGHT_COLUMN in rows[0]:
        for row, weight in zip(rows, normalize_weights([r[WEIGHT_COLUMN] for r in rows], where), strict=True):
            row[WEIGHT_COLUMN] = weight
    return Dataset.from_list(rows)
