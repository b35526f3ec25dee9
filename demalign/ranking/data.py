"""Judgements → per-question tallies, the unit the bootstrap resamples.

Judgements on one question share the question (and usually the responses), so they are not
independent; the bootstrap therefore resamples questions. Everything a method needs is kept as
one small tally per question and summed, so a resample is a weighted sum, not a re-read:

- `wins[q, i, j]`: valid judgements on question q preferring model i over model j;
- `ties[q, i, j]` (symmetric): ties between i and j on q;
- listwise only: `pattern_counts[q, u]`, how often question q's judges gave ranking pattern u;
- style control only: one group per (question, model pair) with its style features.

Invalid judgements (unparseable verdicts) are counted for the report and never enter a tally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from demalign.artifacts import numbered_jsonl
from demalign.errors import DataError
from demalign.ranking.plackett_luce import RankingPatterns

PAIRWISE_FIELDS = ("question_id", "model_i", "model_j", "wins_i", "wins_j", "ties")
PREFERENCE_FIELDS = ("model_i", "model_j", "wins_i", "wins_j", "ties")
LISTWISE_FIELDS = ("question_id", "models", "rankings")
STYLE_FEATURES = ("length", "markdown")

# markdown elements Chatbot Arena's style control counts: headers, list items, bold spans
MARKDOWN_PATTERNS = (
    re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE),
    re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.MULTILINE),
    re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__"),
)


@dataclass
class StyleGroups:
    """One row per (question, model pair) for style-controlled Bradley-Terry."""

    question: np.ndarray  # (G,) question index
    model_i: np.ndarray  # (G,)
    model_j: np.ndarray  # (G,)
    features: np.ndarray  # (G, F) differences from model_i's side, scaled to unit RMS
    feature_scale: np.ndarray  # (F,) the RMS each feature was divided by (to report raw coefficients)
    wins_i: np.ndarray  # (G,) half-win counts (ties split)
    wins_j: np.ndarray  # (G,)
    feature_names: list[str] = field(default_factory=list)


@dataclass
class Comparisons:
    """Per-question tallies of one judgement source, ready for any ranking method."""

    models: list[str]
    units: list[str]  # bootstrap units: question ids (or pair rows for preferences.jsonl)
    wins: np.ndarray  # (Q, M, M)
    ties: np.ndarray  # (Q, M, M)
    source: str  # pairwise | listwise | preferences
    unit_name: str  # what a bootstrap resample draws: "question" or "model-pair row"
    n_judgements: int  # valid judgements
    n_invalid: int
    patterns: RankingPatterns | None = None
    pattern_counts: np.ndarray | None = None  # (Q, U)
    style: StyleGroups | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_models(self) -> int:
        return len(self.models)

    @cached_property
    def sparse_tallies(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix, sparse.csr_matrix | None]:
        """Per-unit wins, ties (Q, M·M) and pattern counts (Q, U) as sparse rows: a question touches
        few model pairs, and a sparse product also dodges BLAS's slow path for short, wide matrices."""
        units = len(self.units)
        patterns = None if self.pattern_counts is None else sparse.csr_matrix(self.pattern_counts)
        return (
            sparse.csr_matrix(self.wins.reshape(units, -1)),
            sparse.csr_matrix(self.ties.reshape(units, -1)),
            patterns,
        )


class _Index:
    """Stable ids in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, name: Any) -> int:
        return self.ids.setdefault(str(name), len(self.ids))

    @property
    def names(self) -> list[str]:
        return list(self.ids)


def _count(row: dict[str, Any], name: str, where: str) -> float:
    value = row.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DataError(f"{where}: field {name!r} must be a non-negative count, got {value!r}")
    return float(value)


def _pair(row: dict[str, Any], where: str) -> tuple[str, str]:
    model_i, model_j = str(row["model_i"]), str(row["model_j"])
    if model_i == model_j:
        raise DataError(
            f"{where}: model_i and model_j are both {model_i!r}; a model cannot be compared to itself"
        )
    return model_i, model_j


def markdown_elements(text: str) -> int:
    return sum(len(pattern.findall(text)) for pattern in MARKDOWN_PATTERNS)


def style_difference(value_i: float, value_j: float) -> float:
    """Normalised difference (a − b)/(a + b + 1), in (−1, 1): 200 vs 100 words → 0.33."""
    return (value_i - value_j) / (value_i + value_j + 1.0)


def _pair_counts(row: dict, where: str) -> tuple[str, str, float, float, float, int]:
    """The model pair of a judgement row and its win/tie/invalid counts, validated."""
    model_i, model_j = _pair(row, where)
    wins_i, wins_j, ties = (_count(row, name, where) for name in ("wins_i", "wins_j", "ties"))
    return model_i, model_j, wins_i, wins_j, ties, int(_count(row, "invalid", where))


def load_pairwise(path: Path, with_style: bool = False) -> Comparisons:
    """Read `pairwise.jsonl` (one row per question and model pair) into per-question tallies."""
    models, questions = _Index(), _Index()
    entries: list[tuple[int, int, int, float, float, float, list[float] | None]] = []
    invalid = 0
    for lineno, row in numbered_jsonl(path, PAIRWISE_FIELDS):
        where = f"{path}:{lineno}"
        model_i, model_j, wins_i, wins_j, ties, row_invalid = _pair_counts(row, where)
        invalid += row_invalid
        style = _style_row(row, model_i, model_j, where) if with_style else None
        entries.append(
            (questions(row["question_id"]), models(model_i), models(model_j), wins_i, wins_j, ties, style)
        )
    if not entries:
        raise DataError(
            f"{path}: no judgement rows; run stage=evaluate first or point rank.pairwise at its output"
        )
    comparisons = _tally(entries, models.names, questions.names, "pairwise", "question", invalid)
    if with_style:
        comparisons.style = _style_groups(entries)
    return comparisons


def load_preferences(path: Path) -> Comparisons:
    """Read `preferences.jsonl` (aggregated per model pair, no question ids). Each pair row becomes
    its own bootstrap unit, so intervals resample pair rows and ignore question-level correlation."""
    models = _Index()
    entries = []
    invalid = 0
    units = []
    for lineno, row in numbered_jsonl(path, PREFERENCE_FIELDS):
        where = f"{path}:{lineno}"
        model_i, model_j, wins_i, wins_j, ties, row_invalid = _pair_counts(row, where)
        invalid += row_invalid
        entries.append((len(units), models(model_i), models(model_j), wins_i, wins_j, ties, None))
        units.append(f"line {lineno}")
    if not entries:
        raise DataError(f"{path}: no preference rows")
    comparisons = _tally(entries, models.names, units, "preferences", "model-pair row", invalid)
    comparisons.notes.append(
        "Only preferences.jsonl was given (no question ids): the bootstrap resamples model-pair rows, "
        "so the intervals ignore that judgements on one question are correlated and are too narrow "
        "or too coarse; pass rank.pairwise for question-level intervals."
    )
    return comparisons


def load_listwise(path: Path) -> Comparisons:
    """Read `listwise.jsonl` (per question: the models and one ranking per valid judgement)."""
    models, questions = _Index(), _Index()
    rankings: list[tuple[int, tuple[int, ...]]] = []
    invalid = 0
    for lineno, row in numbered_jsonl(path, LISTWISE_FIELDS):
        where = f"{path}:{lineno}"
        listed = [str(name) for name in row["models"]]
        for name in listed:  # model order follows the rows' `models` lists, not the verdicts
            models(name)
        invalid += int(_count(row, "invalid", where))
        question = questions(row["question_id"])
        for ranking in row["rankings"]:
            names = [str(name) for name in ranking]
            unknown = sorted(set(names) - set(listed))
            if unknown or len(set(names)) != len(names) or len(names) < 2:
                raise DataError(
                    f"{where}: ranking {names} must list at least two distinct models from {listed}"
                    + (f" (unknown: {unknown})" if unknown else "")
                )
            rankings.append((question, tuple(models(name) for name in names)))
    if not rankings:
        raise DataError(f"{path}: no valid rankings; every judgement was invalid or the file is empty")
    pattern_ids = _Index()
    keyed = [(question, pattern_ids(",".join(map(str, order))), order) for question, order in rankings]
    distinct = {pid: order for _, pid, order in keyed}
    width = max(len(order) for order in distinct.values())
    patterns = np.full((len(distinct), width), -1, dtype=int)
    for pid, order in distinct.items():
        patterns[pid, : len(order)] = order
    counts = np.zeros((len(questions.names), len(distinct)))
    np.add.at(counts, ([q for q, _, _ in keyed], [pid for _, pid, _ in keyed]), 1.0)
    ranking_patterns = RankingPatterns(patterns, len(models.names))
    wins = np.einsum("qu,uab->qab", counts, ranking_patterns.precedence())
    return Comparisons(
        models=models.names,
        units=questions.names,
        wins=wins,
        ties=np.zeros_like(wins),
        source="listwise",
        unit_name="question",
        n_judgements=len(rankings),
        n_invalid=invalid,
        patterns=ranking_patterns,
        pattern_counts=counts,
    )


def _tally(entries: Iterable, models: list[str], units: list[str], source: str, unit_name: str, invalid: int):
    n_models = len(models)
    wins = np.zeros((len(units), n_models, n_models))
    ties = np.zeros_like(wins)
    for unit, i, j, wins_i, wins_j, tie_count, _ in entries:
        wins[unit, i, j] += wins_i
        wins[unit, j, i] += wins_j
        ties[unit, i, j] += tie_count
        ties[unit, j, i] += tie_count
    n_judgements = int(wins.sum() + ties.sum() / 2)
    return Comparisons(models, units, wins, ties, source, unit_name, n_judgements, invalid)


def _style_row(row: dict[str, Any], model_i: str, model_j: str, where: str) -> list[float]:
    responses = row.get("responses")
    if not isinstance(responses, dict) or model_i not in responses or model_j not in responses:
        raise DataError(
            f"{where}: rank.style_control needs the row's responses ({{model_i: text, model_j: text}}); "
            "use the evaluate stage's pairwise.jsonl or set rank.style_control=false"
        )
    text_i, text_j = str(responses[model_i]), str(responses[model_j])
    return [
        style_difference(len(text_i.split()), len(text_j.split())),
        style_difference(markdown_elements(text_i), markdown_elements(text_j)),
    ]


def _style_groups(entries: list) -> StyleGroups:
    question, model_i, model_j, wins_i, wins_j, ties, features = (
        np.array(column, dtype=float) for column in zip(*entries, strict=True)
    )
    keep = (wins_i + wins_j + ties) > 0
    features = features[keep]
    # scale each feature to unit root-mean-square so a coefficient reads "per typical style
    # difference"; no centring, since a difference's sign only says which model is listed first.
    # A feature that is always 0 carries no information and is dropped.
    spread = np.sqrt((features**2).mean(0))
    used = spread > 0
    names = [name for name, ok in zip(STYLE_FEATURES, used, strict=True) if ok]
    return StyleGroups(
        question=question[keep].astype(int),
        model_i=model_i[keep].astype(int),
        model_j=model_j[keep].astype(int),
        features=features[:, used] / spread[used],
        feature_scale=spread[used],
        wins_i=wins_i[keep] + ties[keep] / 2,
        wins_j=wins_j[keep] + ties[keep] / 2,
        feature_names=names,
    )
