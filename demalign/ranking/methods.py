"""The ranking methods behind one interface, each scored on the full data and on the bootstrap.

A method maps a batch of tallies to a batch of scores (higher is better):

| method | scores | from |
|---|---|---|
| bradley_terry | Elo-like points, anchor model at `base_score` | win/tie counts (listwise: rank-broken pairs) |
| bradley_terry_style | same, with style (length, markdown) held equal | (question, pair) groups with responses |
| plackett_luce | Elo-like points | ranking patterns (pairwise: 2-model rankings, = BT with half ties) |
| borda | share of pairwise contests won, 0–1 | precedence matrix |
| copeland | pairwise majorities won (+½ per draw) | precedence matrix |
| kemeny | models placed below in the Kemeny order | precedence matrix |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from demalign.errors import DataError
from demalign.ranking.bootstrap import (
    Tallies,
    aggregate,
    competition_ranks,
    percentile_interval,
    resample_counts,
)
from demalign.ranking.bradley_terry import (
    elo_scores,
    fit_bradley_terry,
    fit_bradley_terry_style,
    strongly_connected,
)
from demalign.ranking.data import Comparisons
from demalign.ranking.kemeny import kemeny
from demalign.ranking.plackett_luce import RankingPatterns, fit_plackett_luce
from demalign.ranking.voting import borda_scores, copeland_scores

log = logging.getLogger(__name__)

BOOTSTRAP_CHUNK = 100  # resamples fitted together (one progress-bar tick)


@dataclass(frozen=True)
class RankOptions:
    tie_model: str = "half"  # half | davidson
    prior: float = 0.01  # ridge λ on log-strengths (see bradley_terry)
    anchor: int = 0  # index of the model pinned at base_score
    scale: float = 400.0  # Elo points per factor 10 in odds
    base_score: float = 1000.0
    kemeny_exact_max: int = 16


@dataclass
class MethodOutput:
    scores: np.ndarray  # (B, M)
    params: np.ndarray | None = None  # raw parameters, the bootstrap's warm start
    converged: np.ndarray | None = None  # (B,) for iterative fits
    details: dict[str, Any] = field(default_factory=dict)  # point-estimate extras for the report


@dataclass
class MethodScores:
    method: str
    source: str
    models: list[str]
    scores: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank: np.ndarray
    samples: np.ndarray  # (bootstrap_samples, M)
    details: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        """The `ranking_scores.json` entry: per-model dicts, n_items = models ranked."""

        def per_model(values: np.ndarray) -> dict[str, float]:
            return {name: float(value) for name, value in zip(self.models, values, strict=True)}

        return {
            "method": self.method,
            "source": self.source,
            "scores": per_model(self.scores),
            "ci_low": per_model(self.ci_low),
            "ci_high": per_model(self.ci_high),
            "rank": {name: int(value) for name, value in zip(self.models, self.rank, strict=True)},
            "n_items": len(self.models),
            **self.details,
        }


Method = Callable[[Comparisons, Tallies, RankOptions, "np.ndarray | None"], MethodOutput]


def _bradley_terry(comparisons: Comparisons, tallies: Tallies, options: RankOptions, init) -> MethodOutput:
    fit = fit_bradley_terry(tallies.wins, tallies.ties, options.tie_model, options.prior, init)
    details: dict[str, Any] = {"ties": options.tie_model}
    if fit.theta.shape[0] == 1:
        connected, components = strongly_connected(tallies.wins[0], tallies.ties[0])
        details["strongly_connected"] = connected
        if not connected:
            details["note"] = (
                f"the win graph has {components} strongly connected components (some model never lost or "
                f"never won against the rest): the maximum-likelihood scores are infinite, and the ones shown "
                f"are held finite by rank.prior={options.prior}"
            )
        if fit.log_nu is not None:
            details["davidson_nu"] = float(np.exp(fit.log_nu[0]))
    scores = elo_scores(fit.theta, options.anchor, options.scale, options.base_score)
    return MethodOutput(scores, fit.theta, fit.converged, details)


def _bradley_terry_style(
    comparisons: Comparisons, tallies: Tallies, options: RankOptions, init
) -> MethodOutput:
    style = comparisons.style
    if style is None or tallies.group_weights is None:
        raise ValueError("style control needs comparisons loaded with style groups")
    fit = fit_bradley_terry_style(
        style.model_i,
        style.model_j,
        style.features,
        tallies.group_weights * style.wins_i,
        tallies.group_weights * style.wins_j,
        comparisons.n_models,
        options.prior,
        init,
    )
    assert fit.coefficients is not None
    details = {}
    if fit.coefficients.shape[0] == 1:
        # back to logit per unit of the normalised difference (a − b)/(a + b + 1)
        raw = fit.coefficients[0] / style.feature_scale
        details["style_coefficients"] = dict(zip(style.feature_names, map(float, raw), strict=True))
    scores = elo_scores(fit.theta, options.anchor, options.scale, options.base_score)
    return MethodOutput(scores, np.concatenate([fit.theta, fit.coefficients], 1), fit.converged, details)


def _pair_patterns(n_models: int) -> RankingPatterns:
    first, second = np.nonzero(~np.eye(n_models, dtype=bool))
    return RankingPatterns(np.stack([first, second], 1), n_models)


def _plackett_luce(comparisons: Comparisons, tallies: Tallies, options: RankOptions, init) -> MethodOutput:
    if comparisons.patterns is not None and tallies.pattern_weights is not None:
        patterns, weights = comparisons.patterns, tallies.pattern_weights
    else:  # pairwise judgements are 2-model rankings; a tie counts half each way
        patterns = _pair_patterns(comparisons.n_models)
        weights = tallies.precedence[:, patterns.patterns[:, 0], patterns.patterns[:, 1]]
    fit = fit_plackett_luce(patterns, weights, options.prior, init)
    scores = elo_scores(fit.theta, options.anchor, options.scale, options.base_score)
    return MethodOutput(scores, fit.theta, fit.converged)


def _borda(comparisons: Comparisons, tallies: Tallies, options: RankOptions, init) -> MethodOutput:
    return MethodOutput(borda_scores(tallies.precedence))


def _copeland(comparisons: Comparisons, tallies: Tallies, options: RankOptions, init) -> MethodOutput:
    return MethodOutput(copeland_scores(tallies.precedence))


def _kemeny(comparisons: Comparisons, tallies: Tallies, options: RankOptions, init) -> MethodOutput:
    result = kemeny(tallies.precedence, options.kemeny_exact_max)
    details: dict[str, Any] = {}
    if result.orders.shape[0] == 1:
        details = {
            "kemeny_exact": result.exact,
            "kemeny_order": [comparisons.models[i] for i in result.orders[0]],
            "kemeny_disagreements": float(result.costs[0]),
            "kemeny_lower_bound": float(result.lower_bounds[0]),
            "kemeny_gap": float(result.costs[0] - result.lower_bounds[0]),
        }
    return MethodOutput(result.scores(), details=details)


METHODS: dict[str, Method] = {
    "bradley_terry": _bradley_terry,
    "bradley_terry_style": _bradley_terry_style,
    "plackett_luce": _plackett_luce,
    "borda": _borda,
    "copeland": _copeland,
    "kemeny": _kemeny,
}


def score_method(
    comparisons: Comparisons,
    method: str,
    options: RankOptions,
    resamples: np.ndarray,
    level: float,
) -> MethodScores:
    """Score the full data, then each bootstrap resample (`resamples`: (B, Q) unit counts, see
    `bootstrap.resample_counts`), warm-starting iterative fits at the point estimate."""
    fit_method = METHODS[method]
    point = fit_method(
        comparisons, aggregate(comparisons, np.ones((1, len(comparisons.units)))), options, None
    )
    if point.converged is not None and not point.converged[0]:
        raise DataError(
            f"{method}: the fit on the full data did not converge (perfectly separated data?); "
            f"set rank.prior > 0 (currently {options.prior}) to keep the scores finite"
        )
    warm_start = None if point.params is None else point.params[0]
    chunks, failures = [], 0
    for start in tqdm(range(0, len(resamples), BOOTSTRAP_CHUNK), desc=f"bootstrap {method}", leave=False):
        output = fit_method(
            comparisons,
            aggregate(comparisons, resamples[start : start + BOOTSTRAP_CHUNK]),
            options,
            warm_start,
        )
        chunks.append(output.scores)
        failures += 0 if output.converged is None else int((~output.converged).sum())
    if failures:
        log.warning("%s: %d of %d bootstrap fits did not converge", method, failures, len(resamples))
    samples = np.concatenate(chunks) if chunks else np.empty((0, comparisons.n_models))
    scores = point.scores[0]
    low, high = percentile_interval(samples, level) if len(samples) else (scores.copy(), scores.copy())
    details = {**point.details, "bootstrap_failures": failures} if failures else point.details
    return MethodScores(
        method,
        comparisons.source,
        comparisons.models,
        scores,
        low,
        high,
        competition_ranks(scores),
        samples,
        details,
    )


def bootstrap_resamples(comparisons: Comparisons, n_samples: int, seed: int) -> np.ndarray:
    """The seeded resamples every method shares: (n_samples, Q) unit counts."""
    return resample_counts(len(comparisons.units), n_samples, np.random.default_rng(seed))
