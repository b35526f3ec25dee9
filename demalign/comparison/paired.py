"""Per-item paired records: one item (prompt), model A's score and model B's score.

A score is a number, or None where the verdict was invalid (the critic's answer did not parse).
None is never coerced to a number: a pair with an invalid side is *incomplete*, it is excluded from
every statistic and counted (`PairedReport.n_invalid_a`, `n_invalid_b`, `n_excluded`).

The design is paired: A and B answered the same items. `pair_items` matches two lists of rows by id
and refuses ids present on one side only, so an unpaired comparison cannot slip in through the API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from demalign.errors import DataError


def _check_score(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise DataError(f"{where}: score must be a number or null (invalid verdict), got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise DataError(f"{where}: score {value!r} is not finite; an invalid verdict is null, not NaN")
    return number


@dataclass(frozen=True)
class PairedItem:
    """One item scored under model A and model B.

    `a` and `b` hold each side's details for the output rows (text, reason, raw critic answer);
    `context` holds what both share (prompt, category). Example: `PairedItem("p1", 2, 4)` is an
    item where B improved by 2; `PairedItem("p2", 3, None)` is excluded (B's verdict was invalid)."""

    id: str
    score_a: float | None
    score_b: float | None
    a: Mapping[str, Any] = field(default_factory=dict)
    b: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "score_a", _check_score(self.score_a, f"item {self.id!r} side A"))
        object.__setattr__(self, "score_b", _check_score(self.score_b, f"item {self.id!r} side B"))

    @property
    def complete(self) -> bool:
        """Both verdicts valid: the pair enters the statistics."""
        return self.score_a is not None and self.score_b is not None

    @property
    def delta(self) -> float | None:
        """score_b − score_a, None for an incomplete pair."""
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a


def pair_items(
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    *,
    id_key: str = "id",
    score_key: str = "score",
    context_keys: Sequence[str] = ("prompt",),
) -> list[PairedItem]:
    """Match A's and B's rows by `id_key`, in A's order.

    Each row carries an id and a score (a number or None); the other keys go to that side's details,
    except `context_keys` (taken from A's row) which both sides share. A duplicated id, or an id on one
    side only, raises `DataError` naming the ids: a paired test needs the same items on both sides.

    Example: A `[{"id": "p1", "score": 2}, {"id": "p2", "score": None}]`, B `[{"id": "p2", "score": 5},
    {"id": "p1", "score": 4}]` → `[PairedItem("p1", 2, 4), PairedItem("p2", None, 5)]`."""

    def index(rows: Sequence[Mapping[str, Any]], side: str) -> dict[str, Mapping[str, Any]]:
        out: dict[str, Mapping[str, Any]] = {}
        for number, row in enumerate(rows, 1):
            for key in (id_key, score_key):
                if key not in row:
                    raise DataError(f"side {side} row {number}: missing {key!r} (keys found: {sorted(row)})")
            key_id = str(row[id_key])
            if key_id in out:
                raise DataError(f"side {side}: id {key_id!r} appears twice (rows must be one per item)")
            out[key_id] = row
        return out

    by_a, by_b = index(rows_a, "A"), index(rows_b, "B")
    only_a, only_b = sorted(by_a.keys() - by_b.keys()), sorted(by_b.keys() - by_a.keys())
    if only_a or only_b:
        raise DataError(
            "paired comparison needs the same items on both sides: "
            f"{len(only_a)} id(s) only in A {only_a[:5]}, {len(only_b)} only in B {only_b[:5]}"
        )
    items = []
    skip = {id_key, score_key, *context_keys}
    for key_id, row_a in by_a.items():
        row_b = by_b[key_id]
        items.append(
            PairedItem(
                id=key_id,
                score_a=row_a[score_key],
                score_b=row_b[score_key],
                a={k: v for k, v in row_a.items() if k not in skip},
                b={k: v for k, v in row_b.items() if k not in skip},
                context={k: row_a[k] for k in context_keys if k in row_a},
            )
        )
    return items


def complete_arrays(items: Sequence[PairedItem]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, a, b) of the complete pairs, in item order; a and b are float arrays of equal length."""
    kept = [item for item in items if item.complete]
    ids = np.array([item.id for item in kept], dtype=object)
    a = np.array([item.score_a for item in kept], dtype=float)
    b = np.array([item.score_b for item in kept], dtype=float)
    return ids, a, b


def check_paired(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D float arrays of equal length, finite: the only input the paired statistics accept.

    Unequal lengths mean the two samples are not paired (ValueError), and a NaN would be an invalid
    verdict coerced to a number (ValueError: drop incomplete pairs first, `complete_arrays`)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"paired scores must be 1-D, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(
            f"paired scores must have one A and one B score per item: got {x.size} and {y.size} "
            "(an unpaired comparison is not supported)"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(
            "paired scores must be finite; exclude invalid verdicts (None) before the statistics"
        )
    return x, y
