"""Synthetic judgements with known strengths, in the evaluate stage's file formats.

Used by the tests (does a method recover what was planted?) and the benchmarks.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def model_names(n_models: int) -> list[str]:
    return [f"model_{k}" for k in range(n_models)]


def _response(words: int, markdown: bool) -> str:
    body = " ".join(["word"] * max(words, 1))
    return f"## Answer\n- **point** {body}" if markdown else body


def pairwise_rows(
    theta: np.ndarray,
    n_questions: int,
    judgements_per_pair: int,
    rng: np.random.Generator,
    tie_rate: float = 0.0,
    invalid_rate: float = 0.0,
    length_effect: float = 0.0,
    pairs_per_question: int | None = None,
    mean_words: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """pairwise.jsonl rows: per question, `pairs_per_question` random model pairs (all pairs when
    None), each judged `judgements_per_pair` times under Bradley-Terry with strengths `theta`.

    A tie happens with probability `tie_rate`, an invalid verdict with `invalid_rate`. With
    `length_effect` β, each response gets a random length and the judge adds β × the normalised
    length difference to the logit — the bias style control should remove. Lengths are uniform in
    20–400 words, or Poisson around `mean_words[k]` for model k (a model that writes longer)."""
    names = model_names(len(theta))
    all_pairs = [(i, j) for i in range(len(theta)) for j in range(i + 1, len(theta))]
    rows = []
    for question in range(n_questions):
        chosen = (
            all_pairs
            if pairs_per_question is None
            else [all_pairs[k] for k in rng.choice(len(all_pairs), pairs_per_question, replace=False)]
        )
        lengths = rng.integers(20, 400, size=len(theta)) if mean_words is None else rng.poisson(mean_words)
        markdown = rng.random(len(theta)) < 0.5  # style noise with no effect on the verdicts
        for i, j in chosen:
            length_diff = (lengths[i] - lengths[j]) / (lengths[i] + lengths[j] + 1.0)
            p_i = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j] + length_effect * length_diff)))
            outcome = rng.random(judgements_per_pair)
            invalid = rng.random(judgements_per_pair) < invalid_rate
            tie = ~invalid & (rng.random(judgements_per_pair) < tie_rate)
            decided = ~invalid & ~tie
            rows.append(
                {
                    "question_id": f"q{question}",
                    "clause_id": f"c{question % 3}",
                    "question": f"question {question}?",
                    "model_i": names[i],
                    "model_j": names[j],
                    "responses": {
                        names[i]: _response(lengths[i], markdown[i]),
                        names[j]: _response(lengths[j], markdown[j]),
                    },
                    "wins_i": int((decided & (outcome < p_i)).sum()),
                    "wins_j": int((decided & (outcome >= p_i)).sum()),
                    "ties": int(tie.sum()),
                    "invalid": int(invalid.sum()),
                }
            )
    return rows


def plackett_luce_ranking(theta: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> list[int]:
    """One ranking of `items` drawn from Plackett-Luce (Gumbel trick: sort θ + Gumbel noise)."""
    noisy = theta[items] + rng.gumbel(size=len(items))
    return [int(items[k]) for k in np.argsort(-noisy)]


def listwise_rows(
    theta: np.ndarray,
    n_questions: int,
    rankings_per_question: int,
    rng: np.random.Generator,
    invalid: int = 0,
) -> list[dict[str, Any]]:
    """listwise.jsonl rows: every model ranked `rankings_per_question` times per question."""
    names = model_names(len(theta))
    items = np.arange(len(theta))
    return [
        {
            "question_id": f"q{question}",
            "clause_id": f"c{question % 3}",
            "question": f"question {question}?",
            "models": names,
            "responses": {name: "answer" for name in names},
            "rankings": [
                [names[k] for k in plackett_luce_ranking(theta, items, rng)]
                for _ in range(rankings_per_question)
            ],
            "invalid": invalid,
        }
        for question in range(n_questions)
    ]
