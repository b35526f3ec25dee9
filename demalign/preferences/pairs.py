"""Preference pairs from PRISM utterances, and their chat/raw formatting for TRL.

Within one interaction (a user turn with 1-4 rated responses), the response the user chose is
`chosen`, and every response with a *strictly* lower score is a `rejected` candidate:

- `all_lower`: one pair per strictly lower response (turn 0 with scores 80, 60, 60, 20 gives 3 pairs);
- `chosen_vs_worst`: one pair against the lowest score (the same turn gives 1 pair, 80 vs 20).

Responses tied with the chosen one say nothing about preference and are skipped; an interaction
with a single response, or whose responses all tie, yields no pair and is counted as dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from demalign.errors import ConfigError


class PairStrategy(StrEnum):
    ALL_LOWER = "all_lower"
    CHOSEN_VS_WORST = "chosen_vs_worst"


class PromptFormat(StrEnum):
    CHAT = "chat"  # TRL conversational: lists of {role, content}
    RAW = "raw"  # plain strings


class Context(StrEnum):
    NONE = "none"  # the prompt is the user's message of this turn only
    HISTORY = "history"  # earlier turns (user message + chosen response) come first


RAW_USER_PREFIX = "User: "
RAW_ASSISTANT_PREFIX = "Assistant: "


def parse_option(enum: type[StrEnum], value: str, key: str) -> Any:
    """Turn a config string into its enum, or raise a ConfigError naming the key and the choices."""
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ConfigError(f"{key}={value!r} is not one of: {choices}") from None


@dataclass(frozen=True)
class Pair:
    user_id: str
    interaction_id: str
    conversation_id: str
    turn: int
    prompt: str
    chosen: str
    rejected: str


@dataclass
class PairStats:
    interactions: int = 0
    pairs: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> interactions dropped


def build_pairs(utterances: pd.DataFrame, strategy: PairStrategy) -> tuple[list[Pair], PairStats]:
    """Preference pairs in file order of the interactions, and what was dropped and why."""
    frame = utterances.reset_index(drop=True)
    frame = frame.assign(_row=np.arange(len(frame)))
    stats = PairStats()
    pairs: list[Pair] = []
    scores = pd.to_numeric(frame["score"]).to_numpy(dtype=float)
    chosen_flags = frame["if_chosen"].to_numpy(dtype=bool)
    responses = frame["model_response"].to_numpy(dtype=object)
    prompts = frame["user_prompt"].to_numpy(dtype=object)
    for interaction_id, rows in frame.groupby("interaction_id", sort=False)["_row"]:
        index = rows.to_numpy()
        stats.interactions += 1
        if len(index) < 2:
            stats.dropped["single response"] += 1
            continue
        flagged = index[chosen_flags[index]]
        if len(flagged) != 1:
            stats.dropped["no unique chosen response"] += 1
            continue
        best = int(flagged[0])
        lower = index[scores[index] < scores[best]]
        if len(lower) == 0:
            stats.dropped["all responses tied with the chosen one"] += 1
            continue
        if strategy is PairStrategy.CHOSEN_VS_WORST:
            lower = lower[[int(np.argmin(scores[lower]))]]
        first = frame.iloc[best]
        for loser in lower:
            pairs.append(
                Pair(
                    user_id=str(first["user_id"]),
                    interaction_id=str(interaction_id),
                    conversation_id=str(first["conversation_id"]),
                    turn=int(first["turn"]),
                    prompt=str(prompts[best]),
                    chosen=str(responses[best]),
                    rejected=str(responses[int(loser)]),
                )
            )
    stats.pairs = len(pairs)
    return pairs, stats


def conversation_histories(utterances: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """conversation_id -> [(user message, chosen response) of turn 0, 1, ...]. A turn without a
    chosen response ends the usable history: later turns cannot be reconstructed faithfully."""
    chosen = utterances[utterances["if_chosen"].astype(bool)].sort_values(
        ["conversation_id", "turn"], kind="stable"
    )
    histories: dict[str, list[tuple[str, str]]] = {}
    for conversation_id, group in chosen.groupby("conversation_id", sort=False):
        turns: list[tuple[str, str]] = []
        for turn, prompt, response in zip(
            group["turn"], group["user_prompt"], group["model_response"], strict=True
        ):
            if int(turn) != len(turns):
                break
            turns.append((str(prompt), str(response)))
        histories[str(conversation_id)] = turns
    return histories


def format_pair(
    pair: Pair,
    prompt_format: PromptFormat,
    system_prompt: str | None,
    history: list[tuple[str, str]],
) -> dict[str, Any]:
    """The TRL preference fields for one pair. `history` holds the earlier turns to prepend."""
    if prompt_format is PromptFormat.CHAT:
        messages: list[dict[str, str]] = (
            [{"role": "system", "content": system_prompt}] if system_prompt else []
        )
        for user_text, assistant_text in history:
            messages += [
                {"role": "user", "content": user_text},
                {"role": "assistant", "content": assistant_text},
            ]
        messages.append({"role": "user", "content": pair.prompt})
        return {
            "prompt": messages,
            "chosen": [{"role": "assistant", "content": pair.chosen}],
            "rejected": [{"role": "assistant", "content": pair.rejected}],
        }
    lines = [system_prompt] if system_prompt else []
    for user_text, assistant_text in history:
        lines += [RAW_USER_PREFIX + user_text, RAW_ASSISTANT_PREFIX + assistant_text]
    lines.append(RAW_USER_PREFIX + pair.prompt)
    if history or system_prompt:
        lines.append(RAW_ASSISTANT_PREFIX.rstrip())
        return {"prompt": "\n".join(lines), "chosen": " " + pair.chosen, "rejected": " " + pair.rejected}
    return {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected}
