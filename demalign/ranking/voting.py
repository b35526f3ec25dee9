"""Borda and Copeland scores from a precedence matrix.

Both take N (…, M, M) with N[a, b] = number of judgements putting model a above model b (a tie
counts ½ each way). For full rankings of K models, N comes from breaking each ranking into its
K(K−1)/2 pairs; for pairwise judgements N is the win matrix plus half the ties.
"""

from __future__ import annotations

import numpy as np


def borda_scores(precedence: np.ndarray) -> np.ndarray:
    """Normalised Borda count: the share of a model's pairwise contests it won, in [0, 1].

    For full rankings this equals the mean of (models ranked below)/(K − 1), the classic Borda
    count rescaled so that rankings of different lengths weigh alike.
    Worked example: one ranking (0, 1, 2) → N = [[0,1,1],[0,0,1],[0,0,0]] → (1, 0.5, 0)."""
    won = precedence.sum(-1)
    contests = won + precedence.sum(-2)
    return np.divide(won, contests, out=np.full_like(won, 0.5), where=contests > 0)


def copeland_scores(precedence: np.ndarray) -> np.ndarray:
    """Copeland: pairwise majorities won, plus ½ per pairwise draw (pairs never compared count 0).

    Worked example: N = [[0,2,1],[1,0,3],[1,0,0]] → 0 beats 1 (2–1), 0 draws 2 (1–1), 1 beats 2
    (3–0): scores (1.5, 1, 0.5)."""
    transposed = np.swapaxes(precedence, -1, -2)
    compared = (precedence + transposed) > 0
    wins = (precedence > transposed) & compared
    draws = (precedence == transposed) & compared
    return wins.sum(-1) + 0.5 * draws.sum(-1)
