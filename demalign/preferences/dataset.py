"""Turn a set of users (with weights) into the rows of `dataset.jsonl`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

import pandas as pd

from demalign.preferences.pairs import Context, Pair, PromptFormat, conversation_histories, format_pair


class DatasetMode(StrEnum):
    FULL = "full"  # every participant, weight 1
    US_REP = "us_rep"  # participants flagged included_in_US_REP, weight 1
    HARD = "hard"  # the users of one sortition panel, weight 1
    SOFT = "soft"  # every pool user, weight = selection probability


US_REP_COLUMN = "included_in_US_REP"


def uniform_weights(survey: pd.DataFrame, mode: DatasetMode) -> dict[str, float]:
    """Weight 1.0 for each user the mode keeps (full / us_rep)."""
    keep = (
        survey[US_REP_COLUMN].astype(bool)
        if mode is DatasetMode.US_REP
        else pd.Series(True, index=survey.index)
    )
    return {str(user): 1.0 for user in survey.index[keep.to_numpy()]}


def dataset_rows(
    pairs: list[Pair],
    weights: Mapping[str, float],
    utterances: pd.DataFrame,
    prompt_format: PromptFormat,
    context: Context,
    system_prompt: str | None,
) -> Iterator[dict[str, Any]]:
    """`dataset.jsonl` rows: TRL preference fields + user_id, interaction_id, weight."""
    histories = conversation_histories(utterances) if context is Context.HISTORY else {}
    for pair in pairs:
        history = histories.get(pair.conversation_id, [])[: pair.turn]
        yield {
            **format_pair(pair, prompt_format, system_prompt, history),
            "user_id": pair.user_id,
            "interaction_id": pair.interaction_id,
            "weight": float(weights[pair.user_id]),
        }
