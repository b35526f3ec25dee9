"""Bradley-Terry: agreement with choix, worked examples, Davidson, style control, separation."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from demalign.artifacts import write_jsonl
from demalign.ranking.bradley_terry import (
    elo_scores,
    fit_bradley_terry,
    fit_bradley_terry_style,
    strongly_connected,
)
from demalign.ranking.data import load_pairwise
from demalign.ranking.synthetic import pairwise_rows


def simulate_wins(
    theta: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """n random pairwise outcomes under BT: the win matrix and the (winner, loser) list choix takes."""
    wins = np.zeros((theta.size, theta.size))
    outcomes = []
    for _ in range(n):
        i, j = rng.choice(theta.size, 2, replace=False)
        winner, loser = (i, j) if rng.random() < 1 / (1 + math.exp(theta[j] - theta[i])) else (j, i)
        wins[winner, loser] += 1
        outcomes.append((int(winner), int(loser)))
    return wins, outcomes


@pytest.mark.parametrize("n_models", [3, 6, 10])
def test_matches_choix_after_centring(n_models: int) -> None:
    rng = np.random.default_rng(n_models)
    wins, outcomes = simulate_wins(rng.normal(size=n_models), 3000, rng)
    ours = fit_bradley_terry(wins).theta[0]
    reference = choix.ilsr_pairwise(n_models, outcomes, tol=1e-12)
    np.testing.assert_allclose(ours, reference - reference.mean(), atol=1e-5)
    assert abs(ours.mean()) < 1e-12


def test_worked_example_three_to_one() -> None:
    """3 wins to 1 → θ_0 − θ_1 = ln 3; two extra ties as half-wins (4 to 2) → ln 2."""
    fit = fit_bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))
    assert fit.theta[0, 0] - fit.theta[0, 1] == pytest.approx(math.log(3), abs=1e-10)
    with_ties = fit_bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]), np.array([[0.0, 2.0], [2.0, 0.0]]))
    assert with_ties.theta[0, 0] - with_ties.theta[0, 1] == pytest.approx(math.log(2), abs=1e-10)


def test_elo_scale_worked_example() -> None:
    """A logit gap of ln 10 is 400 points; the anchor sits at the base score."""
    scores = elo_scores(np.array([[0.0, math.log(10)]]), anchor=0)
    np.testing.assert_allclose(scores, [[1000.0, 1400.0]])
    np.testing.assert_allclose(elo_scores(np.array([[0.0, math.log(10)]]), anchor=1), [[600.0, 1000.0]])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_models=st.integers(2, 7))
def test_batch_equals_one_by_one(seed: int, n_models: int) -> None:
    rng = np.random.default_rng(seed)
    batch = rng.integers(1, 20, size=(4, n_models, n_models)).astype(float)
    together = fit_bradley_terry(batch).theta
    alone = np.vstack([fit_bradley_terry(matrix).theta for matrix in batch])
    np.testing.assert_allclose(together, alone, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000), n_models=st.integers(2, 6), tie_model=st.sampled_from(["half", "davidson"])
)
def test_relabelling_models_relabels_scores(seed: int, n_models: int, tie_model: str) -> None:
    rng = np.random.default_rng(seed)
    wins = rng.integers(1, 15, size=(n_models, n_models)).astype(float)
    ties = rng.integers(0, 4, size=(n_models, n_models)).astype(float)
    ties = np.triu(ties, 1) + np.triu(ties, 1).T
    permutation = rng.permutation(n_models)
    original = fit_bradley_terry(wins, ties, tie_model).theta[0]
    relabelled = fit_bradley_terry(
        wins[np.ix_(permutation, permutation)], ties[np.ix_(permutation, permutation)], tie_model
    )
    np.testing.assert_allclose(relabelled.theta[0], original[permutation], atol=1e-8)


def test_davidson_without_ties_is_bradley_terry() -> None:
    rng = np.random.default_rng(3)
    wins, _ = simulate_wins(rng.normal(size=5), 2000, rng)
    davidson = fit_bradley_terry(wins, np.zeros_like(wins), tie_model="davidson")
    np.testing.assert_allclose(davidson.theta, fit_bradley_terry(wins).theta, atol=1e-10)
    assert davidson.log_nu is not None and np.isneginf(davidson.log_nu[0])


def test_davidson_maximises_its_likelihood() -> None:
    """Cross-check against a generic optimiser on the Davidson likelihood written out directly."""
    rng = np.random.default_rng(4)
    wins = rng.integers(5, 40, size=(4, 4)).astype(float)
    ties = rng.integers(0, 15, size=(4, 4)).astype(float)
    ties = np.triu(ties, 1) + np.triu(ties, 1).T
    np.fill_diagonal(wins, 0)

    def negative_log_likelihood(params: np.ndarray) -> float:
        theta, nu = np.append(params[:3], 0.0), math.exp(params[3])
        total = 0.0
        for i in range(4):
            for j in range(i + 1, 4):
                denominator = (
                    math.exp(theta[i]) + math.exp(theta[j]) + nu * math.exp((theta[i] + theta[j]) / 2)
                )
                total -= wins[i, j] * theta[i] + wins[j, i] * theta[j]
                total -= ties[i, j] * (math.log(nu) + (theta[i] + theta[j]) / 2)
                total += (wins[i, j] + wins[j, i] + ties[i, j]) * math.log(denominator)
        return total

    reference = minimize(negative_log_likelihood, np.zeros(4), method="BFGS", options={"gtol": 1e-9}).x
    fit = fit_bradley_terry(wins, ties, tie_model="davidson")
    expected_theta = np.append(reference[:3], 0.0)
    np.testing.assert_allclose(fit.theta[0], expected_theta - expected_theta.mean(), atol=1e-5)
    assert fit.log_nu[0] == pytest.approx(reference[3], abs=1e-5)


def test_separated_data_needs_the_prior() -> None:
    """0 beats 1 beats 2, never the other way: no finite MLE; the prior keeps the order, finite."""
    wins = np.array([[0.0, 3.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    assert strongly_connected(wins) == (False, 3)
    assert not fit_bradley_terry(wins, prior=0.0).converged[0]
    fit = fit_bradley_terry(wins, prior=0.01)
    assert fit.converged[0] and np.all(np.isfinite(fit.theta))
    assert fit.theta[0, 0] > fit.theta[0, 1] > fit.theta[0, 2]
    assert strongly_connected(wins + wins.T) == (True, 1)


def test_style_control_recovers_planted_length_effect(tmp_path) -> None:
    """Equal strengths, model_1 writes ~3× longer and the judge favours length (β = 2): plain BT
    puts model_1 well ahead; style-controlled BT finds the models equal and recovers β."""
    rng = np.random.default_rng(5)
    rows = pairwise_rows(np.zeros(3), 600, 4, rng, length_effect=2.0, mean_words=np.array([100, 300, 100]))
    write_jsonl(tmp_path / "pairwise.jsonl", rows)
    style = load_pairwise(tmp_path / "pairwise.jsonl", with_style=True).style
    plain = fit_bradley_terry(load_pairwise(tmp_path / "pairwise.jsonl").wins.sum(0)).theta[0]
    controlled = fit_bradley_terry_style(
        style.model_i, style.model_j, style.features, style.wins_i, style.wins_j, 3
    )
    assert plain[1] - plain[0] > 0.5
    assert abs(controlled.theta[0, 1] - controlled.theta[0, 0]) < 0.15
    length = controlled.coefficients[0, style.feature_names.index("length")] / style.feature_scale[0]
    assert length == pytest.approx(2.0, rel=0.2)
