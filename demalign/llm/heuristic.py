"""The heuristic judge: offline, deterministic and transparent, for the embedded default and tests.

It is not a measure of alignment; it exists so the whole evaluation runs without an API and so
every verdict can be recomputed by hand. Each response gets a score in [0, 1]:

    score = w_relevance * relevance + w_length * length + w_diversity * diversity

- relevance: the share of the question's content words (lower-cased alphabetic words of 4+ letters,
  minus a short stop-word list) that occur in the response; 0 if the question has none.
- length: 1 when the response has between `min_words` and `max_words` words, falling linearly to 0
  at 0 words below and at 2 * max_words above.
- diversity: distinct words / words (1 for no repetition; degenerate loops score near 0); 0 for an
  empty response.

Pairwise: the higher score wins; scores within `tie_margin` are a tie. Listwise: responses are
sorted by score, best first; equal scores keep their presentation order. Pointwise (a critic on a
`low`..`high` scale): low + round(score * (high - low)), halves rounded up, with the score as the
reason. It answers in the same text format as an LLM (`[[A]]`, `[[B]]`, `[[TIE]]`,
`[[RANKING: B > A > C]]`, `{"score": 4, "reason": "..."}`) preceded by its scores where the format
allows, so its answers go through the same strict parsers and the raw text shows the numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from demalign.judging.prompts import LABELS, TIE
from demalign.llm.calls import ChatCall, Completion

# Bump when the scoring changes, so cached heuristic verdicts are not reused.
HEURISTIC_VERSION = 1

# fmt: off
STOP_WORDS = frozenset({
    "about", "above", "after", "again", "also", "because", "been", "before", "being", "below", "between",
    "both", "could", "does", "doing", "down", "during", "each", "from", "further", "have", "having",
    "here", "into", "itself", "just", "more", "most", "myself", "once", "only", "other", "ought", "over",
    "same", "should", "some", "such", "than", "that", "their", "theirs", "them", "themselves", "then",
    "there", "these", "they", "this", "those", "through", "under", "until", "very", "were", "what", "when",
    "where", "which", "while", "whom", "whose", "with", "would", "your", "yours",
})
# fmt: on

_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class HeuristicWeights:
    relevance: float = 0.5
    length: float = 0.3
    diversity: float = 0.2
    min_words: int = 5
    max_words: int = 300
    tie_margin: float = 0.02


def content_words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if len(word) >= 4 and word not in STOP_WORDS}


def score_response(question: str, response: str, weights: HeuristicWeights) -> float:
    """E.g. question "Why should honesty matter?" (content words {honesty, matter}), response
    "Honesty matters because trust depends on honesty." (7 words, 6 distinct; "matters" is not
    "matter"): relevance 1/2, length 1 (5 <= 7 <= 300), diversity 6/7, so with the default weights
    0.5*0.5 + 0.3*1 + 0.2*6/7 = 0.7214."""
    words = _WORD.findall(response.lower())
    wanted = content_words(question)
    relevance = len(wanted & set(words)) / len(wanted) if wanted else 0.0
    count = len(words)
    if count < weights.min_words:
        length = count / weights.min_words
    elif count <= weights.max_words:
        length = 1.0
    else:
        length = max(0.0, 1.0 - (count - weights.max_words) / weights.max_words)
    diversity = len(set(words)) / count if count else 0.0
    return weights.relevance * relevance + weights.length * length + weights.diversity * diversity


def scale_score(score: float, low: int, high: int) -> int:
    """A [0, 1] score on the integer scale low..high, halves rounded up: on 1..5, 0.7214 -> 1 + 2.886
    -> 4 and 0.625 -> 1 + 2.5 -> 4 (round() would give 3). Clamped to [0, 1] first, since weights
    that sum above 1 can push the score past 1."""
    return low + math.floor(min(1.0, max(0.0, score)) * (high - low) + 0.5)


class HeuristicBackend:
    """Answers pairwise, listwise and pointwise calls from their payload (question + candidates)."""

    def __init__(self, weights: HeuristicWeights) -> None:
        self.weights = weights

    def complete_batch(self, calls: Sequence[ChatCall]) -> list[Completion]:
        return [Completion(text=self.judge(call.payload), cost=0.0) for call in calls]

    def judge(self, payload: dict) -> str:
        question, candidates = payload["question"], payload["candidates"]
        scores = [score_response(question, text, self.weights) for text in candidates]
        if payload["kind"] == "pointwise":
            low, high = payload["scale"]
            reason = (
                f"Heuristic score {scores[0]:.4f} (relevance, length, diversity) on a {low}..{high} scale."
            )
            return json.dumps({"score": scale_score(scores[0], low, high), "reason": reason})
        shown = " ".join(f"{LABELS[i]}={score:.4f}" for i, score in enumerate(scores))
        if payload["kind"] == "pairwise":
            first, second = scores
            if abs(first - second) <= self.weights.tie_margin:
                verdict = TIE
            else:
                verdict = LABELS[0] if first > second else LABELS[1]
            return f"Heuristic scores: {shown}\n[[{verdict}]]"
        order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties keep presentation order
        return f"Heuristic scores: {shown}\n[[RANKING: {' > '.join(LABELS[i] for i in order)}]]"
