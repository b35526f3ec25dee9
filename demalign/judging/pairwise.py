"""Pairwise judgement: which calls to make, how verdicts parse, and how they become rows.

Every model pair (i < j in model order) on every question is judged by each of `num_judges` judges
in *both* presentation orders ("ij": model_i shown as A; "ji": model_j shown as A). Verdicts are
stored relative to model_i/model_j, so the two orders can be compared (flip rate) and pooled.

`pairwise_jobs` returns each call together with what it judges (question, pair, judge, order), and
`pairwise_rows` reads the verdicts back through those descriptors, so a verdict cannot attach to
the wrong pair whatever order the jobs are built or answered in.

An answer that does not parse after its retries, or a call that failed, is a judgement with verdict
`invalid` and its raw text: counted, never turned into a win, loss or tie.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from demalign.constitution.questions import Item
from demalign.judging.prompts import LABELS, TIE, judge_call
from demalign.llm.calls import CallResult, ChatCall, Identity

ORDERS = ("ij", "ji")
_PAIRWISE_VERDICT = re.compile(r"\[\[(A|B|TIE)\]\]")


def parse_pairwise(text: str) -> str | None:
    """ "A", "B" or "TIE" if the text names exactly one of [[A]], [[B]], [[TIE]] (any number of
    times), else None. E.g. "... [[B]]" -> "B"; "[[A]] or [[B]]?" -> None; "B is better" -> None."""
    verdicts = set(_PAIRWISE_VERDICT.findall(text))
    return verdicts.pop() if len(verdicts) == 1 else None


def accept_pairwise(text: str) -> bool:
    """`execute`'s accept: an answer without exactly one verdict is re-asked."""
    return parse_pairwise(text) is not None


@dataclass(frozen=True)
class PairwiseJob:
    """One pairwise judgement to make: judge `judge` sees `item`'s responses of model_i and model_j
    in `order` ("ij": model_i as A), through `call`."""

    item: Item
    model_i: str
    model_j: str
    judge: int
    order: str
    call: ChatCall


def pairwise_jobs(
    items: Sequence[Item], models: Sequence[str], responses: dict[str, dict[str, str]], num_judges: int,
    judge: Identity,
) -> list[PairwiseJob]:  # fmt: skip
    """Jobs in row order: item, pair (i<j), judge k, order ij then ji. `responses[model][question_id]`."""
    jobs = []
    for item in items:
        for model_i, model_j in combinations(models, 2):
            for k in range(num_judges):
                for order in ORDERS:
                    first, second = (model_i, model_j) if order == "ij" else (model_j, model_i)
                    pair = [responses[first][item.question_id], responses[second][item.question_id]]
                    call = judge_call(judge, "pairwise", item, pair, k)
                    jobs.append(PairwiseJob(item, model_i, model_j, k, order, call))
    return jobs


def _verdict(result: CallResult, order: str) -> str:
    parsed = parse_pairwise(result.text) if result.text is not None else None
    if parsed is None:
        return "invalid"
    if parsed == TIE:
        return "tie"
    shown_first = parsed == LABELS[0]
    return "i" if shown_first == (order == "ij") else "j"


def majority(wins_i: int, wins_j: int, ties: int, model_i: str, model_j: str) -> str | None:
    """The model with more wins; "tie" when wins are equal and some judgement was valid; None when
    no judgement was valid. E.g. (3, 1, 2) -> model_i; (2, 2, 0) -> "tie"; (0, 0, 0) -> None."""
    if wins_i + wins_j + ties == 0:
        return None
    if wins_i == wins_j:
        return "tie"
    return model_i if wins_i > wins_j else model_j


def pairwise_rows(
    jobs: Sequence[PairwiseJob], results: Sequence[CallResult], responses: dict[str, dict[str, str]]
) -> list[dict[str, Any]]:
    """One row per (question, pair), in the order the jobs first name them; `results[n]` answers
    `jobs[n].call` (as `execute` returns them)."""
    grouped: dict[tuple[str, str, str], tuple[PairwiseJob, list[dict[str, Any]]]] = {}
    for job, result in zip(jobs, results, strict=True):
        judgement = {"judge": job.judge, "order": job.order, "verdict": _verdict(result, job.order),
                     "raw": result.text or ""}  # fmt: skip
        if result.error:
            judgement["error"] = result.error
        key = (job.item.question_id, job.model_i, job.model_j)
        grouped.setdefault(key, (job, []))[1].append(judgement)
    rows = []
    for job, judgements in grouped.values():
        item, model_i, model_j = job.item, job.model_i, job.model_j
        verdicts = [j["verdict"] for j in judgements]
        wins_i, wins_j, ties = verdicts.count("i"), verdicts.count("j"), verdicts.count("tie")
        rows.append(
            {
                "question_id": item.question_id,
                "clause_id": item.clause_id,
                "question": item.question,
                "model_i": model_i,
                "model_j": model_j,
                "responses": {model_i: responses[model_i][item.question_id], model_j: responses[model_j][item.question_id]},
                "judgements": judgements,
                "wins_i": wins_i,
                "wins_j": wins_j,
                "ties": ties,
                "invalid": verdicts.count("invalid"),
                "majority_winner": majority(wins_i, wins_j, ties, model_i, model_j),
                "judge_raw": [j["raw"] for j in judgements],
            }
        )  # fmt: skip
    return rows


def preferences(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Pairwise rows summed over questions: one row per model pair, in model order."""
    table = []
    for model_i, model_j in combinations(models, 2):
        mine = [r for r in rows if r["model_i"] == model_i and r["model_j"] == model_j]
        totals = {key: sum(r[key] for r in mine) for key in ("wins_i", "wins_j", "ties", "invalid")}
        winner = majority(totals["wins_i"], totals["wins_j"], totals["ties"], model_i, model_j)
        table.append({"model_i": model_i, "model_j": model_j, **totals, "majority_winner": winner})
    return table


def order_effects(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Position-bias diagnostics. A flip: judge k's valid verdicts in the two orders disagree (e.g.
    "i" when model_i is shown first, "j" when it is shown second). `first_shown_wins`: share of
    valid non-tie verdicts won by the response shown as A (0.5 = no position preference)."""
    compared = flips = decisive = first_wins = 0
    for row in rows:
        by_judge: dict[int, dict[str, str]] = {}
        for judgement in row["judgements"]:
            by_judge.setdefault(judgement["judge"], {})[judgement["order"]] = judgement["verdict"]
            if judgement["verdict"] in ("i", "j"):
                decisive += 1
                first_wins += (judgement["verdict"] == "i") == (judgement["order"] == "ij")
        for verdicts in by_judge.values():
            pair = [verdicts.get(order, "invalid") for order in ORDERS]
            if "invalid" not in pair:
                compared += 1
                flips += pair[0] != pair[1]
    return {
        "order_pairs_compared": compared,
        "order_flips": flips,
        "flip_rate": flips / compared if compared else None,
        "first_shown_wins": first_wins / decisive if decisive else None,
    }
