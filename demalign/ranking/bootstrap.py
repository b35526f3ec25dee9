"""Question-level bootstrap: resample units with replacement, sum their tallies, refit.

A resample is a vector of counts over the Q units (how often each question was drawn), so the
tallies of B resamples are one matrix product, `(B, Q) @ (Q, …)`, and every method sees a batch.
The same resamples serve every method, so their intervals are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demalign.ranking.data import Comparisons


@dataclass(frozen=True)
class Tallies:
    """Summed tallies of a batch of B (re)samples."""

    wins: np.ndarray  # (B, M, M)
    ties: np.ndarray  # (B, M, M)
    pattern_weights: np.ndarray | None  # (B, U)
    group_weights: np.ndarray | None  # (B, G) style-control groups

    @property
    def precedence(self) -> np.ndarray:
        """N[a, b]: judgements putting a above b, a tie counting half each way."""
        return self.wins + self.ties / 2


def resample_counts(n_units: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_samples, n_units): how often each unit is drawn in each resample; each row sums to n_units."""
    draws = rng.integers(0, n_units, size=(n_samples, n_units))
    offsets = (np.arange(n_samples) * n_units)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_samples * n_units).reshape(n_samples, n_units)


def aggregate(comparisons: Comparisons, unit_counts: np.ndarray) -> Tallies:
    """Tallies of resamples given as unit counts (B, Q); all-ones (1, Q) is the full data."""
    counts = np.asarray(unit_counts, dtype=float)
    n_models = comparisons.n_models
    wins, ties, patterns = (
        (tally.T @ counts.T).T if tally is not None else None for tally in comparisons.sparse_tallies
    )
    groups = None if comparisons.style is None else counts[:, comparisons.style.question]
    wins, ties = wins.reshape(-1, n_models, n_models), ties.reshape(-1, n_models, n_models)
    return Tallies(wins, ties, patterns, groups)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval per column: the (1−level)/2 and (1+level)/2 quantiles.

    Worked example: samples 1..100, level 0.9 → (5.95, 95.05) with linear interpolation."""
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return low, high


def competition_ranks(scores: np.ndarray) -> np.ndarray:
    """1 for the best; equal scores share a rank and the next rank is skipped: (3, 5, 5, 1) → (3, 1, 1, 4)."""
    scores = np.asarray(scores, dtype=float)
    tol = 1e-9 * max(1.0, float(np.abs(scores).max(initial=0.0)))
    return 1 + (scores[None, :] > scores[:, None] + tol).sum(1)
