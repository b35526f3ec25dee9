"""How many calls and tokens an evaluation takes, for `evaluate.dry_run` and the report.

Call counts (Q questions, M models, J judges):
    responses = Q * M;  pairwise = Q * M(M-1)/2 * 2 * J;  listwise = Q * J
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from demalign.constitution.questions import Item
from demalign.judging.pairwise import ORDERS
from demalign.judging.prompts import judge_messages
from demalign.llm.generation import prompt_messages


def call_counts(n_questions: int, n_models: int, num_judges: int, mode: str) -> dict[str, int]:
    """E.g. 10 questions, 3 models, 2 judges: responses 30, pairwise 10*3*2*2 = 120, listwise 20."""
    counts = {"responses": n_questions * n_models}
    if mode in ("pairwise", "both"):
        counts["pairwise"] = n_questions * math.comb(n_models, 2) * len(ORDERS) * num_judges
    if mode in ("listwise", "both"):
        counts["listwise"] = n_questions * num_judges
    return counts


def estimate_tokens(text: str) -> int:
    """Rough token count for dry runs: 4 characters per token (English prose with BPE tokenizers)."""
    return max(1, math.ceil(len(text) / 4))


def expected_tokens(
    items: Sequence[Item], n_models: int, num_judges: int, mode: str, system_prompt: str | None,
    response_tokens: int, judge_output_tokens: int,
) -> dict[str, dict[str, int]]:  # fmt: skip
    """Upper-bound token counts per part for a dry run, assuming every completion uses its whole
    budget: {part: {calls, prompt_tokens, completion_tokens}} for responses, pairwise, listwise."""
    counts = call_counts(len(items), n_models, num_judges, mode)
    filler = "x" * (4 * response_tokens)  # a full-length response, for sizing judge prompts
    question_prompts = sum(
        estimate_tokens(m["content"]) for item in items for m in prompt_messages(item.question, system_prompt)
    )
    estimate = {
        "responses": {
            "calls": counts["responses"],
            "prompt_tokens": n_models * question_prompts,
            "completion_tokens": counts["responses"] * response_tokens,
        }
    }
    for part, n_candidates in (("pairwise", 2), ("listwise", n_models)):
        if part not in counts:
            continue
        per_question = [
            sum(
                estimate_tokens(m["content"])
                for m in judge_messages(part, item.clause, item.question, [filler] * n_candidates)
            )
            for item in items
        ]
        calls_per_question = counts[part] // max(1, len(items))
        estimate[part] = {
            "calls": counts[part],
            "prompt_tokens": calls_per_question * sum(per_question),
            "completion_tokens": counts[part] * judge_output_tokens,
        }
    return estimate
