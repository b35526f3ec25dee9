"""Synthetic moral-graph data: the bundled example's raw votes and demographics, and large
generated graphs for the benchmark. Everything is a function of its seed.

The bundled votes are drawn per participant group: in the personal-decision context most Democrats
find "Understanding Before Advice" wiser than "Working It Out Together" and most Republicans find the
opposite, and Democrats are over-represented among the voters (36 of 60), so weighting the votes
towards a 1/3 - 1/3 - 1/3 population changes that context's winner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from demalign.artifacts import write_jsonl, write_text

C1 = "When someone asks for advice on a contested personal decision"
C2 = "When a parent and child disagree"
C3 = "When someone asks about a divisive public issue"

# group -> number of voters, among the bundled participants
GROUPS = {"Democrat": 36, "Republican": 14, "Independent": 10}


@dataclass(frozen=True)
class Transition:
    """A candidate upgrade shown to voters: from -> to in a context, with per-group probabilities of
    (upgrade, no_upgrade, not_sure)."""

    source: str
    target: str
    context: str
    odds: Mapping[str, tuple[float, float, float]]


AGREED = {g: (0.8, 0.1, 0.1) for g in GROUPS}
TRANSITIONS = (
    Transition("1", "2", C1, AGREED),
    Transition("2", "3", C1, AGREED),
    Transition("2", "3", C2, AGREED),
    Transition("7", "8", C1, AGREED),
    Transition("8", "3", C1, {**AGREED, "Republican": (0.4, 0.4, 0.2)}),
    # the split: Democrats prefer 3 over 4, Republicans and Independents 4 over 3
    Transition(
        "4",
        "3",
        C1,
        {"Democrat": (0.9, 0.05, 0.05), "Republican": (0.1, 0.8, 0.1), "Independent": (0.2, 0.6, 0.2)},
    ),
    Transition(
        "3",
        "4",
        C2,
        {"Democrat": (0.2, 0.7, 0.1), "Republican": (0.9, 0.05, 0.05), "Independent": (0.85, 0.1, 0.05)},
    ),
    Transition("1", "4", C2, AGREED),
    Transition("7", "5", C3, AGREED),
    Transition("5", "6", C3, AGREED),
    Transition("6", "5", C3, {g: (0.1, 0.8, 0.1) for g in GROUPS}),
)
RELATIONSHIPS = ("upgrade", "no_upgrade", "not_sure")


def bundled_participants(seed: int = 16) -> pd.DataFrame:
    """60 participants: userId, political_affiliation, age_group, sex (seeded)."""
    rng = np.random.default_rng(seed)
    rows, index = [], 0
    for group, count in GROUPS.items():
        for _ in range(count):
            rows.append({
                "userId": f"p{index:03d}", "political_affiliation": group,
                "age_group": str(rng.choice(["18-34", "35-54", "55+"])), "sex": str(rng.choice(["Female", "Male"])),
            })  # fmt: skip
            index += 1
    return pd.DataFrame(rows)


def bundled_votes(participants: pd.DataFrame, seed: int = 16, coverage: float = 0.5) -> list[dict]:
    """Each participant votes on each transition with probability `coverage` (one vote per ordered
    pair: a pair shown in two contexts is voted in the first one drawn)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user, group in zip(participants["userId"], participants["political_affiliation"], strict=True):
        voted: set[tuple[str, str]] = set()
        for transition in TRANSITIONS:
            if rng.random() >= coverage or (transition.source, transition.target) in voted:
                continue
            voted.add((transition.source, transition.target))
            relationship = RELATIONSHIPS[int(rng.choice(3, p=np.asarray(transition.odds[group])))]
            rows.append({"userId": user, "fromId": transition.source, "toId": transition.target,
                         "contextId": transition.context, "relationship": relationship})  # fmt: skip
    return rows


def write_bundled(folder: Path) -> None:
    """(Re)write the bundled votes.jsonl and demographics.csv (graph.json is written by hand)."""
    participants = bundled_participants()
    write_jsonl(folder / "votes.jsonl", bundled_votes(participants))
    write_text(folder / "demographics.csv", participants.to_csv(index=False))


def random_votes(
    n_values: int, n_votes: int, seed: int = 0, n_contexts: int = 10, transitions_per_value: int = 5,
    n_users: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """`n_votes` raw votes on a random graph of `n_values` values (benchmark scale), vectorised.

    Each value has a latent wisdom; candidate transitions go from a value to one of
    `transitions_per_value` others (in a random context); a vote picks a transition and a
    participant, and says upgrade with probability sigmoid(4·(wisdom_to - wisdom_from)). One vote
    per participant and ordered pair (duplicates redrawn)."""
    rng = np.random.default_rng(seed)
    n_users = n_users or max(1, n_votes // 20)
    wisdom = rng.normal(size=n_values)
    source = np.repeat(np.arange(n_values), transitions_per_value)
    target = (source + rng.integers(1, n_values, size=len(source))) % n_values
    context = rng.integers(0, n_contexts, size=len(source))
    chosen = np.empty(0, dtype=np.int64)
    users = np.empty(0, dtype=np.int64)
    while len(chosen) < n_votes:
        extra = int((n_votes - len(chosen)) * 1.05) + 16
        t = np.concatenate([chosen, rng.integers(0, len(source), size=extra)])
        u = np.concatenate([users, rng.integers(0, n_users, size=extra)])
        key = u * (n_values * n_values) + source[t] * n_values + target[t]
        _, first = np.unique(key, return_index=True)
        first.sort()
        chosen, users = t[first], u[first]
    chosen, users = chosen[:n_votes], users[:n_votes]
    gap = wisdom[target[chosen]] - wisdom[source[chosen]]
    p_up = 1.0 / (1.0 + np.exp(-4.0 * gap))
    draw = rng.random(n_votes)
    relationship = np.where(
        draw < p_up, "upgrade", np.where(draw < p_up + (1 - p_up) * 0.8, "no_upgrade", "not_sure")
    )
    ids = np.char.add("v", np.arange(n_values).astype(str))
    return pd.DataFrame({
        "user_id": np.char.add("u", users.astype(str)), "from_id": ids[source[chosen]], "to_id": ids[target[chosen]],
        "context": np.char.add("When situation ", context[chosen].astype(str)), "relationship": relationship,
        "line": np.arange(1, n_votes + 1),
    })  # fmt: skip


def vote_frame(rows: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """Vote dicts in the file schema (userId, fromId, ...) as a `graph.load_votes` frame (no checks)."""
    return pd.DataFrame({
        "user_id": [r["userId"] for r in rows], "from_id": [r["fromId"] for r in rows],
        "to_id": [r["toId"] for r in rows], "context": [r["contextId"] for r in rows],
        "relationship": [r["relationship"] for r in rows], "line": list(range(1, len(rows) + 1)),
    })  # fmt: skip
