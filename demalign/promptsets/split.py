"""Selecting prompts (categories, repeated prompts, a seeded `limit` per category) and the seeded,
stratified held-out evaluation split.

Sampling and the split are deterministic across processes: each row gets the key
sha256(seed, purpose, category, id), and a category keeps / holds out the rows with the smallest keys.
A row's fate depends only on its own id and its category's size, not on the file order,
`PYTHONHASHSEED` or the number of workers; a larger `eval_ratio` only adds rows to the eval set.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from demalign.errors import ConfigError, DataError
from demalign.promptsets.rows import KEY, PromptRow

# ---- selection: categories, duplicates, limit ----------------------------------------------------------


def _key(seed: int, purpose: str, row: PromptRow) -> str:
    """A row's deterministic random key: the same in every process (no Python hash, no RNG state)."""
    return hashlib.sha256(f"{seed}\x1f{purpose}\x1f{row.category}\x1f{row.id}".encode()).hexdigest()


def by_category(rows: Iterable[PromptRow]) -> dict[str, list[PromptRow]]:
    """Rows grouped by category, categories in order of first appearance, rows in input order."""
    groups: dict[str, list[PromptRow]] = {}
    for row in rows:
        groups.setdefault(row.category, []).append(row)
    return groups


def filter_categories(rows: Sequence[PromptRow], categories: Sequence[str] | None) -> list[PromptRow]:
    """Only rows of the named categories (None: all); a named category with no rows is an error."""
    if categories is None:
        return list(rows)
    found = by_category(rows)
    absent = [c for c in categories if c not in found]
    if absent:
        raise DataError(
            f"{KEY}.categories names {', '.join(map(repr, absent))}, which no prompt has "
            f"(categories found: {', '.join(found)})"
        )
    wanted = set(categories)
    return [row for row in rows if row.category in wanted]


def normalise(prompt: str) -> str:
    """Case- and whitespace-insensitive form used to spot repeated prompts."""
    return " ".join(prompt.casefold().split())


def drop_duplicate_prompts(rows: Sequence[PromptRow]) -> tuple[list[PromptRow], int]:
    """Rows whose prompt (normalised) was seen earlier are dropped, the first kept; returns (rows, dropped).
    Repeated prompts would otherwise land on both sides of the train / eval split."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        text = normalise(row.prompt)
        if text not in seen:
            seen.add(text)
            kept.append(row)
    return kept, len(rows) - len(kept)


def limit_per_category(rows: Sequence[PromptRow], limit: int | None, seed: int) -> list[PromptRow]:
    """At most `limit` rows per category, a seeded sample (the rows with the smallest keys), input
    order kept. `None` keeps everything."""
    if limit is None:
        return list(rows)
    if limit < 1:
        raise ConfigError(f"{KEY}.limit={limit}: expected a positive number of prompts per category, or null")
    keep: set[str] = set()
    for group in by_category(rows).values():
        keep.update(r.id for r in sorted(group, key=lambda r: _key(seed, "limit", r))[:limit])
    return [row for row in rows if row.id in keep]


# ---- held-out split -----------------------------------------------------------------------------------


def eval_count(n: int, eval_ratio: float) -> int:
    """How many of a category's `n` prompts are held out for evaluation.

    round-half-up(n · eval_ratio), then at least 1 (when n ≥ 2 and eval_ratio > 0: every category with
    two prompts is evaluated) and at most n − 1 (training keeps at least one). So a category of one
    prompt goes wholly to train; the count is always within one item of n · eval_ratio.
    Worked: n=10, 0.25 → 3 (2.5 rounds up); n=2, 0.1 → 1; n=1, 0.5 → 0; n=4, 0.9 → 3.
    """
    if not 0.0 <= eval_ratio < 1.0:
        raise ConfigError(f"{KEY}.eval_ratio={eval_ratio}: expected 0 <= eval_ratio < 1")
    if n <= 1 or eval_ratio == 0.0:
        return 0
    return min(n - 1, max(1, math.floor(n * eval_ratio + 0.5)))


@dataclass
class PromptSplit:
    """Train and held-out eval prompts (each in input order), counts per category, and notes for the report."""

    train: list[PromptRow]
    eval: list[PromptRow]
    eval_ratio: float
    seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> {prompts, train, eval}
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"Held-out split: eval_ratio {self.eval_ratio}, seed {self.seed}, stratified by category.",
            "",
            "| category | prompts | train | eval |",
            "|---|---:|---:|---:|",
        ]
        for category, c in self.counts.items():
            lines.append(f"| {category} | {c['prompts']} | {c['train']} | {c['eval']} |")
        total = {k: sum(c[k] for c in self.counts.values()) for k in ("prompts", "train", "eval")}
        lines.append(f"| **all** | {total['prompts']} | {total['train']} | {total['eval']} |")
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def split_eval(rows: Sequence[PromptRow], eval_ratio: float, seed: int) -> PromptSplit:
    """Seeded held-out split, stratified by category: each category holds out `eval_count(n, eval_ratio)`
    rows (those with the smallest keys). Deterministic across processes; train ∪ eval = rows, disjoint."""
    held: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    notes: list[str] = []
    for category, group in by_category(rows).items():
        k = eval_count(len(group), eval_ratio)
        held.update(r.id for r in sorted(group, key=lambda r: _key(seed, "eval", r))[:k])
        counts[category] = {"prompts": len(group), "train": len(group) - k, "eval": k}
        if len(group) == 1 and eval_ratio > 0:
            notes.append(
                f"category {category!r} has a single prompt: it stays in train and the eval set has none "
                f"of this category"
            )
    if eval_ratio == 0:
        notes.append("eval_ratio is 0: no prompts are held out")
    train = [r for r in rows if r.id not in held]
    evaluation = [r for r in rows if r.id in held]
    return PromptSplit(train, evaluation, eval_ratio, seed, counts, notes)
