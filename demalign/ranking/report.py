"""Leaderboard tables, the forest plot and the win-rate heatmap for `stage=rank`'s report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from demalign.ranking.data import Comparisons
from demalign.ranking.methods import MethodScores
from demalign.reports import markdown_table, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FOREST_COLUMNS = 3  # panels per row of the forest plot

SCORE_UNITS = {
    "bradley_terry": "Elo-like points",
    "bradley_terry_style": "Elo-like points, style held equal",
    "plackett_luce": "Elo-like points",
    "borda": "share of pairwise contests won",
    "copeland": "pairwise majorities won",
    "kemeny": "models placed below",
}


def label(result: MethodScores) -> str:
    return f"{result.method} ({result.source})"


def leaderboard(result: MethodScores) -> list[dict[str, Any]]:
    """Rows best first: model, score, ci_low, ci_high, rank."""
    order = np.lexsort((np.arange(len(result.models)), -result.scores))
    return [
        {
            "model": result.models[i],
            "score": round(float(result.scores[i]), 4),
            "ci_low": round(float(result.ci_low[i]), 4),
            "ci_high": round(float(result.ci_high[i]), 4),
            "rank": int(result.rank[i]),
        }
        for i in order
    ]


def leaderboard_table(result: MethodScores) -> str:
    return markdown_table(leaderboard(result), ["rank", "model", "score", "ci_low", "ci_high"])


def _number(value: float) -> str:
    """Elo-like points as integers, small scores with three significant digits."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def methods_table(results: Sequence[MethodScores]) -> str:
    """One row per model, one column per method: `score [low, high]` (rank)."""
    models = results[0].models
    rows = []
    for index, model in enumerate(models):
        row: dict[str, Any] = {"model": model}
        for result in results:
            low, score, high = (_number(v[index]) for v in (result.ci_low, result.scores, result.ci_high))
            row[label(result)] = f"{score} [{low}, {high}] (#{result.rank[index]})"
        rows.append(row)
    return markdown_table(rows)


def forest_plot(results: Sequence[MethodScores]) -> Figure:
    """One panel per method: point estimate and bootstrap interval per model, best at the top."""
    columns = min(FOREST_COLUMNS, len(results))
    rows = -(-len(results) // columns)
    fig = new_figure(width=4.2 * columns, height=rows * (0.4 * len(results[0].models) + 1.3))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(results) :]:
        axis.set_visible(False)
    for axis, result in zip(axes[: len(results)], results, strict=True):
        order = np.argsort(result.scores, kind="stable")
        positions = np.arange(len(order))
        errors = np.vstack(
            [result.scores[order] - result.ci_low[order], result.ci_high[order] - result.scores[order]]
        )
        axis.errorbar(result.scores[order], positions, xerr=np.clip(errors, 0, None), fmt="o", capsize=3)
        axis.set_yticks(positions, [result.models[i] for i in order])
        axis.set_title(label(result), fontsize=9)
        axis.set_xlabel(SCORE_UNITS.get(result.method, "score"), fontsize=8)
        axis.grid(axis="x", alpha=0.3)
    return fig


def win_rates(comparisons: Comparisons) -> np.ndarray:
    """rate[i, j] = share of i-vs-j judgements won by i (ties half); NaN where never compared."""
    precedence = comparisons.wins.sum(0) + comparisons.ties.sum(0) / 2
    contests = precedence + precedence.T
    return np.divide(precedence, contests, out=np.full_like(precedence, np.nan), where=contests > 0)


def win_rate_heatmap(comparisons: Comparisons) -> Figure:
    rates = win_rates(comparisons)
    size = 1.0 + 0.6 * comparisons.n_models
    fig = new_figure(width=size + 1.5, height=size)
    axis = fig.subplots()
    image = axis.imshow(rates, vmin=0.0, vmax=1.0, cmap="RdBu")
    ticks = np.arange(comparisons.n_models)
    axis.set_xticks(ticks, comparisons.models, rotation=45, ha="right")
    axis.set_yticks(ticks, comparisons.models)
    for i, j in zip(*np.nonzero(np.isfinite(rates)), strict=True):
        axis.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7)
    axis.set_title(f"win rate of row over column ({comparisons.source})", fontsize=9)
    fig.colorbar(image, ax=axis)
    return fig
