"""Value-conditioned preference pairs (MAI's route from a moral graph to training data).

For each prompt matched to a context, `chosen` is an answer written with the context's winning value
in the instructions (its short instructions and what it attends to) and `rejected` is the plain
answer to the same prompt. The training prompt is the *plain* one, so DPO teaches the model to answer
as the value would without being told. Rows are in TRL's chat preference format, as `train` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from demalign.llm.generation import PromptItem
from demalign.moral_graph.graph import ValueCard


@dataclass(frozen=True)
class PreferencePrompt:
    id: str
    context: str
    value_id: str
    prompt: str


def value_instructions(card: ValueCard, system_prompt: str | None) -> str:
    """The system message of the value-conditioned answer."""
    lines = [system_prompt] if system_prompt else []
    lines.append(f"In this conversation, follow this value ({card.title}): {card.instructions_short}")
    if card.evaluation_criteria:
        lines.append("Pay attention to: " + "; ".join(card.evaluation_criteria) + ".")
    return "\n".join(lines)


def preference_prompts(
    winners: Sequence[Mapping[str, Any]], prompts: Mapping[str, Sequence[str]], per_context: int | None
) -> list[PreferencePrompt]:
    """The prompts of every context with a winner (the first `per_context` of each; None = all)."""
    out = []
    for clause, row in enumerate(sorted(winners, key=lambda r: r["context"]), start=1):
        chosen = list(prompts.get(row["context"], ()))[: per_context if per_context is not None else None]
        out += [
            PreferencePrompt(f"c{clause}_p{i}", row["context"], row["value_id"], p)
            for i, p in enumerate(chosen)
        ]
    return out


def generation_items(
    items: Sequence[PreferencePrompt], values: Mapping[str, ValueCard], system_prompt: str | None
) -> tuple[list[PromptItem], list[PromptItem]]:
    """(value-conditioned, plain) prompt items, ids shared so answers pair up."""
    conditioned = [PromptItem.from_text(i.id, i.prompt, value_instructions(values[i.value_id], system_prompt))
                   for i in items]  # fmt: skip
    plain = [PromptItem.from_text(i.id, i.prompt, system_prompt) for i in items]
    return conditioned, plain


def preference_rows(
    items: Sequence[PreferencePrompt], chosen: Mapping[str, str | None], rejected: Mapping[str, str | None],
    system_prompt: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:  # fmt: skip
    """DPO rows, and the prompts dropped with why (a failed call, or the two answers identical: no
    preference to learn)."""
    rows, dropped = [], []
    for item in items:
        good, plain = chosen.get(item.id), rejected.get(item.id)
        if good is None or plain is None:
            dropped.append({"id": item.id, "why": "an answer failed"})
            continue
        if good.strip() == plain.strip():
            dropped.append({"id": item.id, "why": "identical answers"})
            continue
        system = [{"role": "system", "content": system_prompt}] if system_prompt else []
        rows.append({
            "id": item.id, "context": item.context, "value_id": item.value_id,
            "prompt": [*system, {"role": "user", "content": item.prompt}],
            "chosen": [{"role": "assistant", "content": good}],
            "rejected": [{"role": "assistant", "content": plain}],
        })  # fmt: skip
    return rows, dropped
