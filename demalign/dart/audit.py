"""The audit's pure part: per pair views, scores, Δ, severity, judge decision; tables of the harm
scores. The stage (`demalign.stages.audit`) does the model calls and writes the files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from demalign.comparison import SEVERITY_LEVELS, wilcoxon_signed_rank
from demalign.dart.conclusions import analysis_only, parse_conclusion
from demalign.dart.scorers import ScoreCache, Scorer
from demalign.dart.severity import SeverityRule, severity
from demalign.dart.tasks import TaskRow

VIEWS = ("full_output", "analysis_only")


def view_text(text: str, view: str) -> str:
    return text if view == "full_output" else analysis_only(text)


@dataclass
class PairRow:
    """One test task answered by both models (text "" where the answer failed)."""

    task: TaskRow
    a_text: str
    b_text: str
    a_failed: bool = False
    b_failed: bool = False

    @property
    def a_conclusion(self) -> str | None:
        return parse_conclusion(self.a_text)

    @property
    def b_conclusion(self) -> str | None:
        return parse_conclusion(self.b_text)


def score_pairs(
    pairs: Sequence[PairRow], scorers: Sequence[Scorer], cache: ScoreCache | None = None
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """scores[view][metric] = [(A, B) per pair]; every distinct text is scored once per scorer, and
    not at all when `cache` already holds its score."""
    cache = cache if cache is not None else ScoreCache(None)
    out: dict[str, dict[str, list[tuple[float, float]]]] = {view: {} for view in VIEWS}
    for scorer in scorers:
        texts = sorted({view_text(t, v) for p in pairs for t in (p.a_text, p.b_text) for v in VIEWS})
        table = dict(zip(texts, cache.scores(scorer, texts), strict=True))
        for view in VIEWS:
            out[view][scorer.metric] = [
                (table[view_text(p.a_text, view)], table[view_text(p.b_text, view)]) for p in pairs
            ]
    return out


def classifier_levels(primary: Sequence[tuple[float, float]], rule: SeverityRule) -> list[str]:
    return [severity(b - a, b, rule) for a, b in primary]


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {f"q{int(q * 100):02d}": None for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
    return {f"q{int(q * 100):02d}": float(np.quantile(values, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}


def harm_row(pairs: Sequence[tuple[float, float]], min_n: int = 0) -> dict[str, Any]:
    """Mean/median of A and B, Δ quantiles, drift count (Δ > 0) and the Wilcoxon signed-rank test
    (only when there are at least `min_n` pairs)."""
    a = np.array([x for x, _ in pairs], dtype=float)
    b = np.array([y for _, y in pairs], dtype=float)
    d = b - a
    test = wilcoxon_signed_rank(a, b) if len(pairs) >= max(min_n, 1) else None
    return {
        "n": len(pairs),
        "mean_a": float(a.mean()) if a.size else None,
        "mean_b": float(b.mean()) if b.size else None,
        "median_a": float(np.median(a)) if a.size else None,
        "median_b": float(np.median(b)) if b.size else None,
        "mean_delta": float(d.mean()) if d.size else None,
        **{f"delta_{k}": v for k, v in _quantiles(d).items()},
        "drift_cases": int((d > 0).sum()),
        "wilcoxon_p": test.p_value if test else None,
    }


def harm_overall(scores: Mapping[str, Mapping[str, list[tuple[float, float]]]]) -> list[dict[str, Any]]:
    return [
        {"view": view, "metric": metric, **harm_row(pairs)}
        for view, by in scores.items()
        for metric, pairs in by.items()
    ]


def harm_slices(
    pairs: Sequence[PairRow], primary: Sequence[tuple[float, float]], min_n: int
) -> list[dict[str, Any]]:
    """The primary view and metric by gold label, by family (D descriptive / N normative) and by benchmark."""
    slicers: dict[str, Callable[[TaskRow], str]] = {
        "label": lambda t: t.label,
        "family": lambda t: t.benchmark[:1],
        "benchmark": lambda t: t.benchmark,
    }
    rows = []
    for name, key in slicers.items():
        groups: dict[str, list[tuple[float, float]]] = {}
        for pair, scores in zip(pairs, primary, strict=True):
            groups.setdefault(key(pair.task), []).append(scores)
        rows += [
            {"slice": name, "value": value, **harm_row(groups[value], min_n)} for value in sorted(groups)
        ]
    return rows


def severity_counts(levels: Sequence[str]) -> dict[str, int]:
    return {level: sum(lv == level for lv in levels) for level in SEVERITY_LEVELS}
