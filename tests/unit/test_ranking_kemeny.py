"""Kemeny exact vs brute force, the heuristic's bound, Borda and Copeland worked examples."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.ranking.kemeny import kemeny, lower_bound, order_cost, tie_break_order
from demalign.ranking.voting import borda_scores, copeland_scores


@st.composite
def precedence_matrices(draw, max_models: int = 7) -> np.ndarray:
    n_models = draw(st.integers(2, max_models))
    # small counts make co-optimal orders frequent, which exercises the tie-break
    values = draw(st.lists(st.integers(0, 3), min_size=n_models * n_models, max_size=n_models * n_models))
    matrix = np.array(values, dtype=float).reshape(n_models, n_models)
    np.fill_diagonal(matrix, 0.0)
    return matrix


def brute_force(precedence: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """Optimal cost and the optimal order that is lexicographically smallest in Borda order."""
    preference = list(tie_break_order(precedence))
    best = min(
        itertools.permutations(range(len(precedence))),
        key=lambda order: (order_cost(precedence, np.array(order)), [preference.index(m) for m in order]),
    )
    return order_cost(precedence, np.array(best)), best


@settings(max_examples=60, deadline=None)
@given(precedence=precedence_matrices())
def test_exact_matches_brute_force_including_tie_break(precedence: np.ndarray) -> None:
    result = kemeny(precedence)
    cost, order = brute_force(precedence)
    assert result.exact
    assert result.costs[0] == cost
    assert tuple(result.orders[0]) == order


@settings(max_examples=40, deadline=None)
@given(precedence=precedence_matrices())
def test_heuristic_is_bounded_by_lower_bound_and_optimum(precedence: np.ndarray) -> None:
    heuristic = kemeny(precedence, exact_max=1)
    optimum = kemeny(precedence).costs[0]
    assert not heuristic.exact
    assert sorted(heuristic.orders[0]) == list(range(len(precedence)))
    assert heuristic.lower_bounds[0] <= optimum <= heuristic.costs[0]


def test_batch_equals_one_by_one() -> None:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 9, size=(5, 8, 8)).astype(float)
    together = kemeny(batch)
    for b, matrix in enumerate(batch):
        np.testing.assert_array_equal(together.orders[b], kemeny(matrix).orders[0])


def test_worked_example_and_scores() -> None:
    """N: 3 judgements prefer 0 over 1, 1 over 0 once; 2 loses everything → order (0, 1, 2),
    1 disagreement (the lower bound), scores = models placed below = (2, 1, 0)."""
    precedence = np.array([[0, 3, 2], [1, 0, 2], [0, 0, 0]], dtype=float)
    result = kemeny(precedence)
    assert list(result.orders[0]) == [0, 1, 2]
    assert result.costs[0] == 1.0 == lower_bound(precedence)
    np.testing.assert_array_equal(result.scores()[0], [2, 1, 0])


def test_borda_worked_example() -> None:
    """One ranking (0, 1, 2): shares of contests won (1, 0.5, 0); an unseen model gets 0.5."""
    np.testing.assert_allclose(borda_scores(np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0.0]])), [1, 0.5, 0])
    np.testing.assert_allclose(borda_scores(np.zeros((2, 2))), [0.5, 0.5])


def test_copeland_worked_example() -> None:
    """0 beats 1 (2–1), 0 draws 2 (1–1), 1 beats 2 (3–0) → (1.5, 1, 0.5)."""
    precedence = np.array([[0, 2, 1], [1, 0, 3], [1, 0, 0]], dtype=float)
    np.testing.assert_allclose(copeland_scores(precedence), [1.5, 1.0, 0.5])
