"""Ranking benchmarks: our batched fits + question bootstrap against choix and an ILP.

1. Bradley-Terry, 10 models, 50,000 judgements over 1,000 questions: fit + 500 bootstrap fits,
   vs choix.ilsr_pairwise on (winner, loser) lists in a loop (the issue's reference), and vs
   choix.ilsr_pairwise_dense on the resampled win matrices (the fastest reference).
2. Plackett-Luce, 10,000 full rankings of 6 over 1,000 questions: fit + 500 bootstrap fits vs
   choix.ilsr_rankings in a loop.
3. Exact Kemeny, 12 models, 2,000 rankings (target < 1 s) vs an ILP in mip/CBC.

The slow reference loops (~0.07 s and ~0.2 s per fit) are timed on REFERENCE_FITS resamples and
scaled to 501 fits; the dense choix reference runs all 501.
"""

from __future__ import annotations

import itertools
import time

import choix
import mip
import numpy as np

from demalign.ranking.bootstrap import aggregate, resample_counts
from demalign.ranking.data import Comparisons
from demalign.ranking.kemeny import kemeny, order_cost
from demalign.ranking.methods import RankOptions, score_method
from demalign.ranking.plackett_luce import RankingPatterns
from demalign.ranking.synthetic import plackett_luce_ranking

N_MODELS = 10
N_QUESTIONS = 1_000
N_JUDGEMENTS = 50_000
BOOTSTRAP = 500
REFERENCE_FITS = 40
SEED = 0


def _time(function, repeat: int = 1):
    start = time.perf_counter()
    for _ in range(repeat):
        result = function()
    return (time.perf_counter() - start) / repeat, result


def _report(name: str, ours: float, reference_name: str, reference: float) -> None:
    print(
        f"{name}: ours {ours:.3f} s | {reference_name} {reference:.3f} s | ratio {reference / ours:.1f}x",
        flush=True,
    )


def _pairwise_data(rng: np.random.Generator) -> tuple[Comparisons, list[list[tuple[int, int]]]]:
    theta = rng.normal(size=N_MODELS)
    question = rng.integers(0, N_QUESTIONS, N_JUDGEMENTS)
    first = rng.integers(0, N_MODELS, N_JUDGEMENTS)
    second = (first + rng.integers(1, N_MODELS, N_JUDGEMENTS)) % N_MODELS
    first_wins = rng.random(N_JUDGEMENTS) < 1 / (1 + np.exp(theta[second] - theta[first]))
    winner, loser = np.where(first_wins, first, second), np.where(first_wins, second, first)
    wins = np.zeros((N_QUESTIONS, N_MODELS, N_MODELS))
    np.add.at(wins, (question, winner, loser), 1.0)
    per_question: list[list[tuple[int, int]]] = [[] for _ in range(N_QUESTIONS)]
    for q, won, lost in zip(question.tolist(), winner.tolist(), loser.tolist(), strict=True):
        per_question[q].append((won, lost))
    comparisons = Comparisons(
        models=[f"m{k}" for k in range(N_MODELS)],
        units=[f"q{k}" for k in range(N_QUESTIONS)],
        wins=wins,
        ties=np.zeros_like(wins),
        source="pairwise",
        unit_name="question",
        n_judgements=N_JUDGEMENTS,
        n_invalid=0,
    )
    return comparisons, per_question


def bench_bradley_terry() -> None:
    print(
        f"Bradley-Terry: {N_MODELS} models, {N_JUDGEMENTS} judgements, {N_QUESTIONS} questions, "
        f"fit + {BOOTSTRAP} question-bootstrap fits"
    )
    comparisons, per_question = _pairwise_data(np.random.default_rng(SEED))
    options = RankOptions(prior=0.0)

    def ours():
        resamples = resample_counts(N_QUESTIONS, BOOTSTRAP, np.random.default_rng(SEED))
        return score_method(comparisons, "bradley_terry", options, resamples, 0.95)

    ours_time, result = _time(ours, repeat=3)
    resamples = resample_counts(N_QUESTIONS, BOOTSTRAP, np.random.default_rng(SEED))

    def outcomes(counts: np.ndarray) -> list[tuple[int, int]]:
        return [pair for q in np.repeat(np.arange(N_QUESTIONS), counts) for pair in per_question[q]]

    full = choix.ilsr_pairwise(N_MODELS, outcomes(np.ones(N_QUESTIONS, dtype=int)))
    ours_theta = (result.scores - result.scores.mean()) * np.log(10) / 400
    print(
        f"  agreement with choix on the full data: max |Δθ| = {np.abs(ours_theta - (full - full.mean())).max():.1e}"
    )

    start = time.perf_counter()
    for counts in resamples[:REFERENCE_FITS]:
        choix.ilsr_pairwise(N_MODELS, outcomes(counts))
    loop_time = (time.perf_counter() - start) / REFERENCE_FITS * (BOOTSTRAP + 1)
    _report(
        "  BT fit + 500 bootstraps",
        ours_time,
        f"choix.ilsr_pairwise loop (timed on {REFERENCE_FITS}, scaled to {BOOTSTRAP + 1} fits)",
        loop_time,
    )
    matrices = aggregate(comparisons, np.vstack([np.ones(N_QUESTIONS), resamples])).wins
    dense_time, _ = _time(lambda: [choix.ilsr_pairwise_dense(m) for m in matrices])
    _report(
        "  BT fit + 500 bootstraps",
        ours_time,
        "choix.ilsr_pairwise_dense on the same win matrices",
        dense_time,
    )


def bench_plackett_luce() -> None:
    n_items, per_question = 6, 10
    print(
        f"Plackett-Luce: {n_items} models, {N_QUESTIONS * per_question} full rankings, {N_QUESTIONS} questions"
    )
    rng = np.random.default_rng(SEED)
    theta = rng.normal(size=n_items)
    rankings = [
        [plackett_luce_ranking(theta, np.arange(n_items), rng) for _ in range(per_question)]
        for _ in range(N_QUESTIONS)
    ]
    pattern_ids: dict[tuple[int, ...], int] = {}
    counts = np.zeros((N_QUESTIONS, 720))
    for q, question_rankings in enumerate(rankings):
        for ranking in question_rankings:
            counts[q, pattern_ids.setdefault(tuple(ranking), len(pattern_ids))] += 1
    patterns = RankingPatterns(np.array(list(pattern_ids)), n_items)
    precedence = np.einsum("qu,uab->qab", counts[:, : len(pattern_ids)], patterns.precedence())
    comparisons = Comparisons(
        models=[f"m{k}" for k in range(n_items)],
        units=[f"q{k}" for k in range(N_QUESTIONS)],
        wins=precedence,
        ties=np.zeros_like(precedence),
        source="listwise",
        unit_name="question",
        n_judgements=N_QUESTIONS * per_question,
        n_invalid=0,
        patterns=patterns,
        pattern_counts=counts[:, : len(pattern_ids)],
    )

    def ours():
        resamples = resample_counts(N_QUESTIONS, BOOTSTRAP, np.random.default_rng(SEED))
        return score_method(comparisons, "plackett_luce", RankOptions(prior=0.0), resamples, 0.95)

    ours_time, _ = _time(ours)
    resamples = resample_counts(N_QUESTIONS, BOOTSTRAP, np.random.default_rng(SEED))
    start = time.perf_counter()
    for row in resamples[: REFERENCE_FITS // 4]:
        choix.ilsr_rankings(n_items, [r for q in np.repeat(np.arange(N_QUESTIONS), row) for r in rankings[q]])
    loop_time = (time.perf_counter() - start) / (REFERENCE_FITS // 4) * (BOOTSTRAP + 1)
    _report(
        "  PL fit + 500 bootstraps",
        ours_time,
        f"choix.ilsr_rankings loop (timed on {REFERENCE_FITS // 4}, scaled to {BOOTSTRAP + 1} fits)",
        loop_time,
    )


def _kemeny_ilp(precedence: np.ndarray) -> float:
    """Reference: the classic ILP (x_ab = a before b, antisymmetry, transitivity) in mip/CBC."""
    n = len(precedence)
    model = mip.Model(sense=mip.MINIMIZE, solver_name=mip.CBC)
    model.verbose = 0
    before = {(a, b): model.add_var(var_type=mip.BINARY) for a in range(n) for b in range(n) if a != b}
    for a, b in itertools.combinations(range(n), 2):
        model += before[a, b] + before[b, a] == 1
    for a, b, c in itertools.permutations(range(n), 3):
        model += before[a, b] + before[b, c] + before[c, a] <= 2
    model.objective = mip.xsum(float(precedence[b, a]) * var for (a, b), var in before.items())
    model.optimize()
    return float(model.objective_value)


def bench_kemeny() -> None:
    n_models, n_rankings = 12, 2_000
    print(f"Kemeny: {n_models} models, {n_rankings} rankings")
    rng = np.random.default_rng(SEED)
    theta = rng.normal(scale=0.3, size=n_models)
    orders = np.array([plackett_luce_ranking(theta, np.arange(n_models), rng) for _ in range(n_rankings)])

    def ours():
        position = np.argsort(orders, axis=1)  # position[r, model]
        precedence = (position[:, :, None] < position[:, None, :]).sum(0).astype(float)
        return precedence, kemeny(precedence)

    ours_time, (precedence, result) = _time(ours, repeat=5)
    ilp_time, ilp_cost = _time(lambda: _kemeny_ilp(precedence))
    assert abs(ilp_cost - order_cost(precedence, result.orders[0])) < 1e-6, "exact DP and ILP disagree"
    _report("  exact Kemeny (precedence + DP, target < 1 s)", ours_time, "mip/CBC ILP (solve only)", ilp_time)
    batch_time, _ = _time(lambda: kemeny(np.repeat(precedence[None], BOOTSTRAP, 0)))
    print(f"  {BOOTSTRAP} exact Kemeny solves (a bootstrap) batched: {batch_time:.2f} s")


def main() -> None:
    bench_bradley_terry()
    bench_plackett_luce()
    bench_kemeny()


if __name__ == "__main__":
    main()
