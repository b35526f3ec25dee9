"""Offline unit tests of demalign.judging: pairwise and listwise parsers, verdicts attached to the
right pair, bookkeeping of invalid judgements, and the heuristic judge's verdicts."""

from __future__ import annotations

import json
import random
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demalign.constitution.questions import Item
from demalign.judging.budget import call_counts
from demalign.judging.listwise import (
    listwise_jobs,
    listwise_rows,
    listwise_summary,
    parse_ranking,
    presentation_order,
)
from demalign.judging.pairwise import (
    majority,
    order_effects,
    pairwise_jobs,
    pairwise_rows,
    parse_pairwise,
    preferences,
)
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, CallResult, ChatCall, Identity
from demalign.llm.execute import execute
from demalign.llm.heuristic import HeuristicBackend, HeuristicWeights, score_response
from demalign.llm.scripted import ScriptedBackend

# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reasoning...\n[[B]]", "B"),
        ("[[TIE]]", "TIE"),
        ("[[A]] I repeat: [[A]]", "A"),
        ("Either [[A]] or [[B]]", None),
        ("B is better", None),
        ("[[C]]", None),
        ("[[a]]", None),
    ],
)
def test_parse_pairwise_is_strict(text: str, expected: str | None) -> None:
    assert parse_pairwise(text) == expected


@given(st.text(alphabet=string.printable.replace("[", "")))
def test_parse_pairwise_never_guesses_without_brackets(text: str) -> None:
    assert parse_pairwise(text) is None


@given(st.integers(2, 8).flatmap(lambda n: st.permutations(list(string.ascii_uppercase[:n]))))
def test_parse_ranking_round_trips_any_permutation(labels: list[str]) -> None:
    assert parse_ranking(f"because...\n[[RANKING: {' > '.join(labels)}]]", len(labels)) == labels


@pytest.mark.parametrize(
    "text",
    [
        "[[RANKING: A > B]]",
        "[[RANKING: A > A > B]]",
        "[[RANKING: A > B > D]]",
        "[[RANKING: A > B > C]] [[RANKING: C > B > A]]",
        "A > B > C",
    ],
)
def test_parse_ranking_rejects_incomplete_or_ambiguous(text: str) -> None:
    """3 candidates: a missing, repeated or foreign label, or two different rankings, is invalid."""
    assert parse_ranking(text, 3) is None


# ---------------------------------------------------------------- verdict bookkeeping


def _result(text: str | None, error: str | None = None) -> CallResult:
    return CallResult(key="k", text=text, valid=text is not None, error=error)


ITEMS = [Item("c01_q00", 1, "Be honest.", "Is the moon made of cheese?")]
RESPONSES = {"m1": {"c01_q00": "No."}, "m2": {"c01_q00": "Yes."}}


def _pairwise_rows(num_judges: int, results: list[CallResult]) -> list[dict]:
    jobs = pairwise_jobs(ITEMS, ["m1", "m2"], RESPONSES, num_judges, Identity("j", {}))
    return pairwise_rows(jobs, results, RESPONSES)


def test_pairwise_rows_map_verdicts_to_models_and_keep_invalid() -> None:
    """Judge 0: ij says [[A]] (m1 shown first -> i), ji says [[A]] (m2 shown first -> j): a flip.
    Judge 1: ij [[TIE]], ji unparseable (invalid, not a tie). Judge 2: ij [[B]] (j), ji failed call.
    So wins_i 1, wins_j 2, ties 1, invalid 2 -> majority m2."""
    results = [_result("[[A]]"), _result("[[A]]"), _result("[[TIE]]"), _result("dunno"), _result("[[B]]"),
               _result(None, "gave up")]  # fmt: skip
    [row] = _pairwise_rows(3, results)
    assert [j["verdict"] for j in row["judgements"]] == ["i", "j", "tie", "invalid", "j", "invalid"]
    assert (row["wins_i"], row["wins_j"], row["ties"], row["invalid"]) == (1, 2, 1, 2)
    assert row["majority_winner"] == "m2"
    assert row["judge_raw"][3] == "dunno" and row["judgements"][5]["error"] == "gave up"
    effects = order_effects([row])
    # Comparable order pairs: judge 0 only (judge 1 and 2 have an invalid side); it flipped.
    assert (effects["order_pairs_compared"], effects["order_flips"]) == (1, 1)
    # Decisive verdicts: i (A shown first), j (A = m2 shown first), j (B shown second): first shown won 2 of 3.
    assert effects["first_shown_wins"] == pytest.approx(2 / 3)


@given(st.lists(st.sampled_from(["[[A]]", "[[B]]", "[[TIE]]", "junk", None]), min_size=4, max_size=4))
def test_every_judgement_is_accounted_for(texts: list[str | None]) -> None:
    [row] = _pairwise_rows(2, [_result(t) for t in texts])
    assert row["wins_i"] + row["wins_j"] + row["ties"] + row["invalid"] == 4
    assert row["invalid"] == sum(t in ("junk", None) for t in texts)


def test_majority_and_preferences() -> None:
    """Two questions for pair (a, b): (3 i, 1 j, 0 tie) and (0 i, 2 j, 1 tie, 1 invalid) -> totals 3-3, a tie."""
    assert majority(3, 1, 2, "a", "b") == "a"
    assert majority(2, 2, 0, "a", "b") == "tie"
    assert majority(0, 0, 0, "a", "b") is None
    rows = [
        {"model_i": "a", "model_j": "b", "wins_i": 3, "wins_j": 1, "ties": 0, "invalid": 0},
        {"model_i": "a", "model_j": "b", "wins_i": 0, "wins_j": 2, "ties": 1, "invalid": 1},
    ]
    assert preferences(rows, ["a", "b"]) == [
        {
            "model_i": "a",
            "model_j": "b",
            "wins_i": 3,
            "wins_j": 3,
            "ties": 1,
            "invalid": 1,
            "majority_winner": "tie",
        }
    ]


def test_call_counts_formulas() -> None:
    """10 questions, 3 models, 2 judges: responses 30; pairwise 10*3 pairs*2 orders*2 = 120; listwise 20."""
    assert call_counts(10, 3, 2, "both") == {"responses": 30, "pairwise": 120, "listwise": 20}
    assert call_counts(10, 3, 2, "pairwise") == {"responses": 30, "pairwise": 120}


def test_listwise_rows_translate_labels_through_the_shuffle() -> None:
    models = ["m1", "m2", "m3"]
    responses = {m: {"c01_q00": f"answer of {m}"} for m in models}
    shown = presentation_order(models, "c01_q00", 0, seed=7)
    jobs = listwise_jobs(ITEMS, models, responses, 2, Identity("j", {}), seed=7)
    assert f"[[Response A]]\nanswer of {shown[0]}" in jobs[0].call.messages[1]["content"]
    [row] = listwise_rows(jobs, [_result("[[RANKING: C > A > B]]"), _result("??")], models, responses)
    assert row["rankings"] == [[shown[2], shown[0], shown[1]]]
    assert row["invalid"] == 1 and row["judge_raw"] == ["[[RANKING: C > A > B]]", "??"]


def test_listwise_summary_counts_firsts_and_mean_rank() -> None:
    """rankings [[a, b], [b, a], [a, b]] (one invalid judgement left out) -> a: first 2, mean rank
    (1 + 2 + 1) / 3 = 1.333; b: first 1, mean rank 5/3 = 1.667."""
    rows = [{"rankings": [["a", "b"], ["b", "a"]]}, {"rankings": [["a", "b"]]}]
    assert listwise_summary(rows, ["a", "b"]) == [
        {"model": "a", "rankings": 3, "ranked_first": 2, "mean_rank": 1.333},
        {"model": "b", "rankings": 3, "ranked_first": 1, "mean_rank": 1.667},
    ]
    assert listwise_summary([{"rankings": []}], ["a"])[0]["mean_rank"] is None


# ---------------------------------------------------------------- verdicts attach to the right pair

MODELS = ["m1", "m2", "m3"]
QUALITY = {"m1": 0, "m2": 2, "m3": 1}  # m2 best, then m3, then m1
ITEMS3 = [Item(f"c01_q{q:02d}", 1, "Be honest.", f"Question {q}?") for q in range(3)]
ANSWERS = {m: {item.question_id: f"answer of {m} to {item.question_id}" for item in ITEMS3} for m in MODELS}


def _quality_judge(call: ChatCall) -> str:
    """A judge that prefers the better model's response, whichever label it is shown under."""
    first, second = (QUALITY[text.split()[2]] for text in call.payload["candidates"])
    return "[[A]]" if first > second else "[[B]]"


def _canonical(row: dict) -> str:
    """A row with its judgements in (judge, order) order, as comparable text."""
    judgements = sorted(row["judgements"], key=lambda j: (j["judge"], j["order"]))
    return json.dumps(
        {**row, "judgements": judgements, "judge_raw": sorted(row["judge_raw"])}, sort_keys=True
    )


def test_verdicts_follow_their_pair_whatever_order_jobs_are_answered_in() -> None:
    """3 questions, pairs (m1, m2), (m1, m3), (m2, m3), 2 judges, both orders = 36 judgements. The
    judge always prefers the better model, so every verdict names it: wins m2 > m3 > m1 in every
    row. The jobs are shuffled (with their calls) before being answered: rows come out the same
    apart from their order, so nothing depends on builders and row-makers looping alike."""
    jobs = pairwise_jobs(ITEMS3, MODELS, ANSWERS, 2, Identity("j", {}))
    backend = ScriptedBackend(_quality_judge)
    results = execute([job.call for job in jobs], lambda: backend, CallCache(None), CallPolicy())
    rows = pairwise_rows(jobs, results, ANSWERS)
    assert len(rows) == 9
    for row in rows:
        better = max((row["model_i"], row["model_j"]), key=QUALITY.__getitem__)
        assert row["majority_winner"] == better and row["invalid"] == 0 and row["ties"] == 0
        assert (row["wins_i"], row["wins_j"]) == ((4, 0) if better == row["model_i"] else (0, 4))
        assert row["responses"] == {
            m: ANSWERS[m][row["question_id"]] for m in (row["model_i"], row["model_j"])
        }

    shuffled = list(zip(jobs, results, strict=True))
    random.Random(3).shuffle(shuffled)
    again = pairwise_rows([j for j, _ in shuffled], [r for _, r in shuffled], ANSWERS)
    assert sorted(map(_canonical, again)) == sorted(map(_canonical, rows))
    with pytest.raises(ValueError):  # a result list that does not match the jobs is an error, not a shift
        pairwise_rows(jobs, results[:-1], ANSWERS)


def test_rankings_follow_their_shuffle() -> None:
    """The listwise judge ranks by quality through each job's own presentation order: every valid
    ranking is [m2, m3, m1], even answered in reverse job order."""
    jobs = listwise_jobs(ITEMS3, MODELS, ANSWERS, 2, Identity("j", {}), seed=11)

    def rank(call: ChatCall) -> str:
        order = sorted(range(3), key=lambda i: -QUALITY[call.payload["candidates"][i].split()[2]])
        return f"[[RANKING: {' > '.join(string.ascii_uppercase[i] for i in order)}]]"

    results = execute(
        [job.call for job in jobs][::-1], lambda: ScriptedBackend(rank), CallCache(None), CallPolicy()
    )
    rows = listwise_rows(jobs[::-1], results, MODELS, ANSWERS)
    assert {row["question_id"] for row in rows} == {item.question_id for item in ITEMS3}
    assert all(ranking == ["m2", "m3", "m1"] for row in rows for ranking in row["rankings"])
    assert sum(len(row["rankings"]) for row in rows) == 6


# ---------------------------------------------------------------- heuristic judge (pairwise, listwise)


def test_heuristic_score_worked_example() -> None:
    """See score_response's docstring: 0.5*1/2 + 0.3*1 + 0.2*6/7 = 0.72143."""
    score = score_response(
        "Why should honesty matter?", "Honesty matters because trust depends on honesty.", HeuristicWeights()
    )
    assert score == pytest.approx(0.5 * 0.5 + 0.3 + 0.2 * 6 / 7)


def test_heuristic_verdicts_follow_scores_in_both_orders() -> None:
    judge = HeuristicBackend(HeuristicWeights())
    good, bad = "Honesty matters because people need to trust what they are told.", "no no no"
    question = "Why does honesty matter?"
    assert judge.judge({"kind": "pairwise", "question": question, "candidates": [good, bad]}).endswith(
        "[[A]]"
    )
    assert judge.judge({"kind": "pairwise", "question": question, "candidates": [bad, good]}).endswith(
        "[[B]]"
    )
    assert judge.judge({"kind": "pairwise", "question": question, "candidates": [good, good]}).endswith(
        "[[TIE]]"
    )
    ranking = judge.judge({"kind": "listwise", "question": question, "candidates": [bad, good, ""]})
    assert parse_ranking(ranking, 3) == ["B", "A", "C"]
