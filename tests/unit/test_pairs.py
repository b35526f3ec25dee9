"""Pair building: ties, single responses, chosen_vs_worst, formats and history context."""

from __future__ import annotations

import pandas as pd
import pytest

from demalign.errors import ConfigError
from demalign.preferences.dataset import dataset_rows
from demalign.preferences.pairs import (
    Context,
    PairStrategy,
    PromptFormat,
    build_pairs,
    conversation_histories,
    parse_option,
)


def _utterances(turns: list[tuple[str, int, list[tuple[int, bool]]]]) -> pd.DataFrame:
    """turns: (conversation_id, turn, [(score, if_chosen), ...]) -> utterance rows."""
    rows = []
    for conversation, turn, responses in turns:
        for within, (score, chosen) in enumerate(responses):
            rows.append(
                {
                    "interaction_id": f"{conversation}_turn{turn}",
                    "conversation_id": conversation,
                    "user_id": "u1",
                    "turn": turn,
                    "within_turn_id": within,
                    "user_prompt": f"{conversation} prompt {turn}",
                    "model_response": f"{conversation} t{turn} r{within} ({score})",
                    "score": score,
                    "if_chosen": chosen,
                    "model_name": "m",
                }
            )
    return pd.DataFrame(rows)


TURN0 = ("c1", 0, [(80, True), (60, False), (60, False), (20, False)])


def test_all_lower_pairs_chosen_with_every_strictly_lower_response() -> None:
    """80 vs 60, 60, 20 -> three pairs."""
    pairs, stats = build_pairs(_utterances([TURN0]), PairStrategy.ALL_LOWER)
    assert [p.rejected for p in pairs] == ["c1 t0 r1 (60)", "c1 t0 r2 (60)", "c1 t0 r3 (20)"]
    assert {p.chosen for p in pairs} == {"c1 t0 r0 (80)"}
    assert stats.pairs == 3 and stats.interactions == 1 and not stats.dropped


def test_chosen_vs_worst_keeps_only_the_lowest() -> None:
    """80 vs 20 only."""
    pairs, _ = build_pairs(_utterances([TURN0]), PairStrategy.CHOSEN_VS_WORST)
    assert [(p.chosen, p.rejected) for p in pairs] == [("c1 t0 r0 (80)", "c1 t0 r3 (20)")]


def test_ties_and_single_responses_are_dropped_and_counted() -> None:
    """A response tied with the chosen one is skipped; an all-tied turn and a single-response turn drop."""
    utterances = _utterances(
        [
            ("c1", 0, [(70, True), (70, False), (50, False), (10, False)]),  # 70 vs 50, 70 vs 10
            ("c1", 1, [(55, True), (55, False)]),  # all tied
            ("c1", 2, [(90, True)]),  # single response
        ]
    )
    pairs, stats = build_pairs(utterances, PairStrategy.ALL_LOWER)
    assert [p.rejected for p in pairs] == ["c1 t0 r2 (50)", "c1 t0 r3 (10)"]
    assert dict(stats.dropped) == {"all responses tied with the chosen one": 1, "single response": 1}
    assert stats.interactions == 3


def test_interaction_without_chosen_flag_is_dropped() -> None:
    pairs, stats = build_pairs(_utterances([("c1", 0, [(70, False), (20, False)])]), PairStrategy.ALL_LOWER)
    assert pairs == [] and dict(stats.dropped) == {"no unique chosen response": 1}


def _rows(prompt_format: PromptFormat, context: Context, system: str | None = None) -> list[dict]:
    utterances = _utterances([("c1", 0, [(80, True), (20, False)]), ("c1", 1, [(70, True), (30, False)])])
    pairs, _ = build_pairs(utterances, PairStrategy.ALL_LOWER)
    return list(dataset_rows(pairs, {"u1": 0.25}, utterances, prompt_format, context, system))


def test_chat_format_is_trl_conversational() -> None:
    rows = _rows(PromptFormat.CHAT, Context.NONE, system="Be kind.")
    assert rows[1]["prompt"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "c1 prompt 1"},
    ]
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "c1 t1 r0 (70)"}]
    assert rows[1]["rejected"] == [{"role": "assistant", "content": "c1 t1 r1 (30)"}]
    assert (rows[1]["user_id"], rows[1]["interaction_id"], rows[1]["weight"]) == ("u1", "c1_turn1", 0.25)


def test_history_context_prepends_earlier_turns_with_the_chosen_reply() -> None:
    rows = _rows(PromptFormat.CHAT, Context.HISTORY)
    assert rows[0]["prompt"] == [{"role": "user", "content": "c1 prompt 0"}]
    assert rows[1]["prompt"] == [
        {"role": "user", "content": "c1 prompt 0"},
        {"role": "assistant", "content": "c1 t0 r0 (80)"},
        {"role": "user", "content": "c1 prompt 1"},
    ]


def test_raw_format_gives_strings_and_a_transcript_with_history() -> None:
    plain = _rows(PromptFormat.RAW, Context.NONE)
    assert plain[1]["prompt"] == "c1 prompt 1"
    assert plain[1]["chosen"] == "c1 t1 r0 (70)"
    history = _rows(PromptFormat.RAW, Context.HISTORY)
    assert (
        history[1]["prompt"] == "User: c1 prompt 0\nAssistant: c1 t0 r0 (80)\nUser: c1 prompt 1\nAssistant:"
    )
    assert history[1]["chosen"] == " c1 t1 r0 (70)"


def test_history_stops_at_a_turn_without_chosen_reply() -> None:
    utterances = _utterances(
        [
            ("c1", 0, [(80, True), (20, False)]),
            ("c1", 1, [(50, False), (50, False)]),
            ("c1", 2, [(60, True), (5, False)]),
        ]
    )
    assert conversation_histories(utterances) == {"c1": [("c1 prompt 0", "c1 t0 r0 (80)")]}


def test_bad_option_names_the_key_and_choices() -> None:
    with pytest.raises(ConfigError, match=r"dataset.pairs='best' is not one of: all_lower, chosen_vs_worst"):
        parse_option(PairStrategy, "best", "dataset.pairs")
