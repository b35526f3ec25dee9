"""Listwise judgement: each judge sees all responses to a question in its own shuffled order
(seeded by the evaluation seed, the question id and the judge index) and returns a full ranking.

`listwise_jobs` keeps each call with the order it shows, and `listwise_rows` translates labels back
to models through that same order, so a ranking cannot attach to the wrong question or shuffle. An
answer that is not one complete ranking is recorded as invalid with its raw text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from demalign.constitution.questions import Item
from demalign.judging.prompts import LABELS, judge_call
from demalign.llm.calls import CallResult, ChatCall, Identity

_RANKING = re.compile(r"\[\[RANKING:\s*([^\]]*)\]\]")


def parse_ranking(text: str, n_candidates: int) -> list[str] | None:
    """Labels best first if the text holds exactly one distinct [[RANKING: ...]] that uses each of the
    first `n_candidates` labels exactly once, else None. E.g. "[[RANKING: C > A > B]]", 3 -> [C, A, B];
    "[[RANKING: A > B]]", 3 -> None (C missing); "[[RANKING: A > A > B]]", 3 -> None."""
    found = {match.strip() for match in _RANKING.findall(text)}
    if len(found) != 1:
        return None
    labels = [part.strip() for part in found.pop().split(">")]
    if sorted(labels) != list(LABELS[:n_candidates]):
        return None
    return labels


def presentation_order(models: Sequence[str], question_id: str, judge: int, seed: int) -> list[str]:
    """The shuffled order judge `judge` sees for a question; stable under subsampling of questions."""
    rng = np.random.default_rng([seed, zlib.crc32(question_id.encode()), judge])
    return [models[k] for k in rng.permutation(len(models))]


@dataclass(frozen=True)
class ListwiseJob:
    """One ranking to ask for: judge `judge` sees `item`'s responses in the order `shown`."""

    item: Item
    judge: int
    shown: tuple[str, ...]
    call: ChatCall


def listwise_jobs(
    items: Sequence[Item], models: Sequence[str], responses: dict[str, dict[str, str]], num_judges: int,
    judge: Identity, seed: int,
) -> list[ListwiseJob]:  # fmt: skip
    jobs = []
    for item in items:
        for k in range(num_judges):
            shown = presentation_order(models, item.question_id, k, seed)
            call = judge_call(judge, "listwise", item, [responses[m][item.question_id] for m in shown], k)
            jobs.append(ListwiseJob(item, k, tuple(shown), call))
    return jobs


def listwise_rows(
    jobs: Sequence[ListwiseJob], results: Sequence[CallResult], models: Sequence[str],
    responses: dict[str, dict[str, str]],
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per question, in the order the jobs first name them; `rankings` holds one
    best-to-worst model list per valid judgement. `results[n]` answers `jobs[n].call`."""
    grouped: dict[str, tuple[Item, list[dict[str, Any]]]] = {}
    for job, result in zip(jobs, results, strict=True):
        shown = list(job.shown)
        labels = parse_ranking(result.text, len(shown)) if result.text is not None else None
        ranking = [shown[LABELS.index(label)] for label in labels] if labels else None
        judgement = {"judge": job.judge, "order": shown, "ranking": ranking, "raw": result.text or ""}
        if result.error:
            judgement["error"] = result.error
        grouped.setdefault(job.item.question_id, (job.item, []))[1].append(judgement)
    return [
        {
            "question_id": item.question_id,
            "clause_id": item.clause_id,
            "question": item.question,
            "models": list(models),
            "responses": {m: responses[m][item.question_id] for m in models},
            "judgements": judgements,
            "rankings": [j["ranking"] for j in judgements if j["ranking"] is not None],
            "invalid": sum(j["ranking"] is None for j in judgements),
            "judge_raw": [j["raw"] for j in judgements],
        }
        for item, judgements in grouped.values()
    ]


def listwise_summary(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Per model over all valid rankings: how often it ranked first and its mean rank (1 = best).
    E.g. rankings [[a, b], [b, a], [a, b]] -> a: first 2, mean rank 4/3; b: first 1, mean rank 5/3."""
    rankings = [ranking for row in rows for ranking in row["rankings"]]
    return [
        {
            "model": model,
            "rankings": len(rankings),
            "ranked_first": sum(ranking[0] == model for ranking in rankings),
            "mean_rank": round(sum(ranking.index(model) + 1 for ranking in rankings) / len(rankings), 3)
            if rankings
            else None,
        }
        for model in models
    ]
