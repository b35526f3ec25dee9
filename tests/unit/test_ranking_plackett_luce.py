"""Plackett-Luce: agreement with choix on full and partial rankings, the BT special case."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest

from demalign.ranking.plackett_luce import RankingPatterns, fit_plackett_luce
from demalign.ranking.synthetic import plackett_luce_ranking


def as_patterns(rankings: list[list[int]], n_models: int) -> tuple[RankingPatterns, np.ndarray]:
    distinct: dict[tuple[int, ...], int] = {}
    for ranking in rankings:
        distinct[tuple(ranking)] = distinct.get(tuple(ranking), 0) + 1
    width = max(map(len, distinct))
    patterns = np.full((len(distinct), width), -1)
    for row, ranking in enumerate(distinct):
        patterns[row, : len(ranking)] = ranking
    return RankingPatterns(patterns, n_models), np.array(list(distinct.values()), dtype=float)


@pytest.mark.parametrize("partial", [False, True])
def test_matches_choix_after_centring(partial: bool) -> None:
    rng = np.random.default_rng(7)
    n_models = 6
    theta = rng.normal(size=n_models)
    rankings = []
    for _ in range(2000):
        size = int(rng.integers(2, n_models + 1)) if partial else n_models
        rankings.append(plackett_luce_ranking(theta, rng.choice(n_models, size, replace=False), rng))
    patterns, weights = as_patterns(rankings, n_models)
    ours = fit_plackett_luce(patterns, weights).theta[0]
    reference = choix.ilsr_rankings(n_models, rankings, tol=1e-12)
    np.testing.assert_allclose(ours, reference - reference.mean(), atol=1e-5)


def test_two_model_rankings_are_bradley_terry() -> None:
    """(0, 1) three times and (1, 0) once: θ_0 − θ_1 = ln 3, as in Bradley-Terry."""
    fit = fit_plackett_luce(RankingPatterns(np.array([[0, 1], [1, 0]]), 2), np.array([3.0, 1.0]))
    assert fit.theta[0, 0] - fit.theta[0, 1] == pytest.approx(math.log(3), abs=1e-10)


def test_batch_of_weights_equals_separate_fits() -> None:
    rng = np.random.default_rng(8)
    theta = rng.normal(size=4)
    patterns, _ = as_patterns([plackett_luce_ranking(theta, np.arange(4), rng) for _ in range(300)], 4)
    weights = rng.integers(1, 5, size=(3, len(patterns.patterns))).astype(float)
    together = fit_plackett_luce(patterns, weights).theta
    alone = np.vstack([fit_plackett_luce(patterns, row).theta for row in weights])
    np.testing.assert_allclose(together, alone, atol=1e-8)


def test_precedence_breaks_rankings_into_pairs() -> None:
    """(2, 0) and (0, 1, 2) padded: the first puts 2 above 0; the second 0>1, 0>2, 1>2."""
    patterns = RankingPatterns(np.array([[2, 0, -1], [0, 1, 2]]), 3)
    precedence = patterns.precedence()
    np.testing.assert_array_equal(precedence[0], [[0, 0, 0], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(precedence[1], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
