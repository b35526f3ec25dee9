"""Deterministic synthetic preference pairs for tests and benchmarks (no PRISM data needed).

The chosen replies are polite and on topic, the rejected ones curt, so a model can learn the
preference in a few epochs: a real (if easy) signal for "loss decreases" checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOPICS = (
    "gardening",
    "taxes",
    "music",
    "travel",
    "cooking",
    "history",
    "exercise",
    "science",
    "voting",
    "books",
)
CHOSEN = "Thank you for asking about {topic}. Here is a careful, balanced answer with {n} useful points."
REJECTED = "No. {topic} is boring, figure it out yourself {n}."


def synthetic_pairs(n: int, seed: int = 0, chat: bool = True, weighted: bool = True) -> list[dict[str, Any]]:
    """`n` rows in the dataset.jsonl schema; chat (message lists) or raw (strings); weights in [0.5, 2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        number = int(rng.integers(2, 9))
        prompt = f"Could you tell me something about {topic}? Question {i}."
        chosen, rejected = CHOSEN.format(topic=topic, n=number), REJECTED.format(topic=topic, n=number)
        row: dict[str, Any] = (
            {
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
            if chat
            else {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        )
        row.update(user_id=f"user{i % 7}", interaction_id=f"c{i}")
        if weighted:
            row["weight"] = round(float(rng.uniform(0.5, 2.0)), 4)
        rows.append(row)
    return rows


SFT_REPLY = "Happy to help with {topic}: here are {n} careful, balanced points."
SYSTEM = "You are a careful, helpful assistant."


def synthetic_sft_rows(
    n: int, seed: int = 0, fmt: str = "messages", chat: bool = True, weighted: bool = False
) -> list[dict[str, Any]]:
    """`n` SFT rows: `fmt="messages"` (system, user, assistant turns) or `"prompt_completion"` (message
    lists when `chat`, else strings); weights in [0.5, 2) when `weighted`. The replies follow one
    template, so a tiny model's loss on them falls within a few steps."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        prompt = f"Could you tell me something about {topic}? Question {i}."
        reply = SFT_REPLY.format(topic=topic, n=int(rng.integers(2, 9)))
        if fmt == "messages":
            row: dict[str, Any] = {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": reply},
                ]
            }
        elif chat:
            row = {
                "prompt": [{"role": "user", "content": prompt}],
                "completion": [{"role": "assistant", "content": reply}],
            }
        else:
            row = {"prompt": f"Instruction:\n{prompt}\n\nResponse:\n", "completion": reply}
        if weighted:
            row["weight"] = round(float(rng.uniform(0.5, 2.0)), 4)
        rows.append(row)
    return rows
