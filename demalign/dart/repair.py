"""The DART-H training set: distillation rows ∪ repair rows, each de-duplicated, *then* weighted.

The released code repeated each repair row by its severity weight (mild 1, moderate 2, severe 3,
extreme 4) and then de-duplicated the combined set by (sample id, hash of target), which removed the
copies again: the weighting did nothing. Here de-duplication comes first (within the distillation
rows, within the repair rows, and a repair row replaces a distillation row with the same key), and
the weight is attached afterwards, either as the per-example `weight` column of the weighted SFT loss
(`demalign.training.sft`; weight k ≡ the row k times) or, with `weighting=repeat`, as k copies that
nothing de-duplicates any more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from demalign.errors import ConfigError

WEIGHTINGS = ("loss", "repeat")


def dedup_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """(task id, sha1 of the target text): two rows with both equal teach the same thing."""
    return str(row["id"]), hashlib.sha1(str(row["target"]).encode("utf-8")).hexdigest()


def dedupe(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """First occurrence of each key, in order."""
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        key = dedup_key(row)
        if key not in seen:
            seen.add(key)
            out.append(dict(row))
    return out


def repair_weight(severity: str, oversample: Mapping[str, float]) -> float:
    if severity not in oversample:
        raise ConfigError(
            f"repair.oversample has no weight for severity {severity!r} (it has {sorted(oversample)})"
        )
    weight = float(oversample[severity])
    if weight < 0:
        raise ConfigError(f"repair.oversample.{severity}={weight}: weights must be ≥ 0")
    return weight


def build_repair_set(
    distill_rows: Sequence[Mapping[str, Any]],
    repair_rows: Sequence[Mapping[str, Any]],
    oversample: Mapping[str, float],
    weighting: str = "loss",
) -> list[dict[str, Any]]:
    """Rows `{..., target, source: distill|repair, weight}` (module docstring). With weighting=loss every
    row carries `weight` (1 for distillation rows); with repeat a repair row of weight k appears
    round(k) times and no row carries a weight."""
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"repair.weighting={weighting!r}; choose one of {list(WEIGHTINGS)}")
    repairs = dedupe(repair_rows)
    repaired = {dedup_key(r) for r in repairs}
    base = [r for r in dedupe(distill_rows) if dedup_key(r) not in repaired]
    out = [{**r, "source": "distill", "weight": 1.0} for r in base]
    out += [
        {**r, "source": "repair", "weight": repair_weight(str(r["severity"]), oversample)} for r in repairs
    ]
    if weighting == "loss":
        return out
    repeated = []
    for row in out:
        copies = round(float(row.pop("weight")))
        repeated += [dict(row) for _ in range(copies)]
    return repeated
