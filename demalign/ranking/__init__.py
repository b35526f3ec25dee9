"""Scores with confidence: Bradley-Terry (half ties or Davidson, optional style control),
Plackett-Luce, Borda, Copeland and Kemeny, each with a question-level bootstrap.

Typical use (what `stage=rank` does):

    comparisons = load_pairwise(path)
    resamples = bootstrap_resamples(comparisons, n_samples=500, seed=0)
    result = score_method(comparisons, "bradley_terry", RankOptions(), resamples, level=0.95)
"""

from demalign.ranking.bootstrap import (
    Tallies,
    aggregate,
    competition_ranks,
    percentile_interval,
    resample_counts,
)
from demalign.ranking.bradley_terry import elo_scores, fit_bradley_terry, fit_bradley_terry_style
from demalign.ranking.data import Comparisons, load_listwise, load_pairwise, load_preferences
from demalign.ranking.kemeny import kemeny
from demalign.ranking.methods import METHODS, MethodScores, RankOptions, bootstrap_resamples, score_method
from demalign.ranking.plackett_luce import RankingPatterns, fit_plackett_luce
from demalign.ranking.voting import borda_scores, copeland_scores

__all__ = [
    "METHODS",
    "Comparisons",
    "MethodScores",
    "RankOptions",
    "RankingPatterns",
    "Tallies",
    "aggregate",
    "bootstrap_resamples",
    "borda_scores",
    "competition_ranks",
    "copeland_scores",
    "elo_scores",
    "fit_bradley_terry",
    "fit_bradley_terry_style",
    "fit_plackett_luce",
    "kemeny",
    "load_listwise",
    "load_pairwise",
    "load_preferences",
    "percentile_interval",
    "resample_counts",
    "score_method",
]
