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
