"""Offline unit tests of demalign.judging: parsers, verdict bookkeeping, cache, executor, constitution."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.errors import ConfigError, DataError
from demalign.judging import evaluation as ev
from demalign.judging.calls import (
    CallCache,
    CallPolicy,
    CallResult,
    ChatCall,
    Completion,
    backoff_delay,
    execute,
)
from demalign.judging.constitution import bank_questions, load_constitution, select_clauses
from demalign.judging.heuristic import HeuristicBackend, HeuristicWeights, score_response
from demalign.judging.prompts import parse_pairwise, parse_questions, parse_ranking

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


def test_parse_questions_dedupes_and_requires_enough() -> None:
    """Five entries: one near-duplicate (case and '?'), one too short -> 3 distinct questions."""
    text = '```json\n{"questions": ["Is lying ever OK?", "is lying ever ok", "Why?", "How do I cite a book?", "What is fair pay?"]}\n```'
    assert parse_questions(text, 3, min_chars=10) == [
        "Is lying ever OK?",
        "How do I cite a book?",
        "What is fair pay?",
    ]
    assert parse_questions(text, 4, min_chars=10) is None
    assert parse_questions('{"questions": "not a list"}', 1, 10) is None
    assert parse_questions("no json", 1, 10) is None


# ---------------------------------------------------------------- verdict bookkeeping


def _result(text: str | None, error: str | None = None) -> CallResult:
    return CallResult(key="k", text=text, valid=text is not None, error=error)


ITEMS = [ev.Item("c01_q00", 1, "Be honest.", "Is the moon made of cheese?")]
RESPONSES = {"m1": {"c01_q00": "No."}, "m2": {"c01_q00": "Yes."}}


def test_pairwise_rows_map_verdicts_to_models_and_keep_invalid() -> None:
    """Judge 0: ij says [[A]] (m1 shown first -> i), ji says [[A]] (m2 shown first -> j): a flip.
    Judge 1: ij [[TIE]], ji unparseable (invalid, not a tie). Judge 2: ij [[B]] (j), ji failed call.
    So wins_i 1, wins_j 2, ties 1, invalid 2 -> majority m2."""
    results = [_result("[[A]]"), _result("[[A]]"), _result("[[TIE]]"), _result("dunno"), _result("[[B]]"),
               _result(None, "gave up")]  # fmt: skip
    [row] = ev.pairwise_rows(ITEMS, ["m1", "m2"], RESPONSES, 3, results)
    assert [j["verdict"] for j in row["judgements"]] == ["i", "j", "tie", "invalid", "j", "invalid"]
    assert (row["wins_i"], row["wins_j"], row["ties"], row["invalid"]) == (1, 2, 1, 2)
    assert row["majority_winner"] == "m2"
    assert row["judge_raw"][3] == "dunno" and row["judgements"][5]["error"] == "gave up"
    effects = ev.order_effects([row])
    # Comparable order pairs: judge 0 only (judge 1 and 2 have an invalid side); it flipped.
    assert (effects["order_pairs_compared"], effects["order_flips"]) == (1, 1)
    # Decisive verdicts: i (A shown first), j (A = m2 shown first), j (B shown second): first shown won 2 of 3.
    assert effects["first_shown_wins"] == pytest.approx(2 / 3)


@given(st.lists(st.sampled_from(["[[A]]", "[[B]]", "[[TIE]]", "junk", None]), min_size=4, max_size=4))
def test_every_judgement_is_accounted_for(texts: list[str | None]) -> None:
    [row] = ev.pairwise_rows(ITEMS, ["m1", "m2"], RESPONSES, 2, [_result(t) for t in texts])
    assert row["wins_i"] + row["wins_j"] + row["ties"] + row["invalid"] == 4
    assert row["invalid"] == sum(t in ("junk", None) for t in texts)


def test_majority_and_preferences() -> None:
    """Two questions for pair (a, b): (3 i, 1 j, 0 tie) and (0 i, 2 j, 1 tie, 1 invalid) -> totals 3-3, a tie."""
    assert ev.majority(3, 1, 2, "a", "b") == "a"
    assert ev.majority(2, 2, 0, "a", "b") == "tie"
    assert ev.majority(0, 0, 0, "a", "b") is None
    rows = [
        {"model_i": "a", "model_j": "b", "wins_i": 3, "wins_j": 1, "ties": 0, "invalid": 0},
        {"model_i": "a", "model_j": "b", "wins_i": 0, "wins_j": 2, "ties": 1, "invalid": 1},
    ]
    assert ev.preferences(rows, ["a", "b"]) == [
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
    assert ev.call_counts(10, 3, 2, "both") == {"responses": 30, "pairwise": 120, "listwise": 20}
    assert ev.call_counts(10, 3, 2, "pairwise") == {"responses": 30, "pairwise": 120}


def test_listwise_rows_translate_labels_through_the_shuffle() -> None:
    models = ["m1", "m2", "m3"]
    responses = {m: {"c01_q00": f"answer of {m}"} for m in models}
    shown = ev.presentation_order(models, "c01_q00", 0, seed=7)
    calls = ev.listwise_calls(ITEMS, models, responses, 2, ev.JudgeIdentity("j", {}), seed=7)
    assert f"[[Response A]]\nanswer of {shown[0]}" in calls[0].messages[1]["content"]
    [row] = ev.listwise_rows(
        ITEMS, models, responses, 2, [_result("[[RANKING: C > A > B]]"), _result("??")], seed=7
    )
    assert row["rankings"] == [[shown[2], shown[0], shown[1]]]
    assert row["invalid"] == 1 and row["judge_raw"] == ["[[RANKING: C > A > B]]", "??"]


def test_listwise_summary_counts_firsts_and_mean_rank() -> None:
    """rankings [[a, b], [b, a], [a, b]] (one invalid judgement left out) -> a: first 2, mean rank
    (1 + 2 + 1) / 3 = 1.333; b: first 1, mean rank 5/3 = 1.667."""
    rows = [{"rankings": [["a", "b"], ["b", "a"]]}, {"rankings": [["a", "b"]]}]
    assert ev.listwise_summary(rows, ["a", "b"]) == [
        {"model": "a", "rankings": 3, "ranked_first": 2, "mean_rank": 1.333},
        {"model": "b", "rankings": 3, "ranked_first": 1, "mean_rank": 1.667},
    ]
    assert ev.listwise_summary([{"rankings": []}], ["a"])[0]["mean_rank"] is None


@settings(max_examples=30)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 1000))
def test_select_items_is_a_seeded_subset(per_clause: int, max_questions: int, seed: int) -> None:
    items = [ev.Item(f"c{c:02d}_q{q:02d}", c, "x", f"q{c}{q}") for c in range(1, 6) for q in range(5)]
    chosen = ev.select_items(items, per_clause, max_questions, seed)
    assert chosen == ev.select_items(items, per_clause, max_questions, seed)
    assert len(chosen) == min(max_questions, 5 * min(per_clause, 5))
    assert [items.index(i) for i in chosen] == sorted(items.index(i) for i in chosen)


def test_model_specs_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"evaluate.models\[1\].kind"):
        ev.parse_model_specs([{"name": "a", "kind": "local"}, {"name": "b", "kind": "remote"}])
    with pytest.raises(ConfigError, match="unique"):
        ev.parse_model_specs([{"name": "a", "kind": "local"}, {"name": "a", "kind": "local"}])
    with pytest.raises(ConfigError, match=r"models\[0\].model"):
        ev.parse_model_specs([{"name": "a", "kind": "litellm"}, {"name": "b", "kind": "local"}])


def test_model_kind_is_never_guessed() -> None:
    """{name: gpt, model: gpt-4o} without kind used to become kind=local: the base model under the
    name gpt. Now the entry's kind is required (from the CLI, from evaluate.models, from a models file)."""
    with pytest.raises(ConfigError, match=r"evaluate.models\[1\].kind is missing"):
        ev.parse_model_specs([{"name": "base", "kind": "local"}, {"name": "gpt", "model": "gpt-4o"}])
    with pytest.raises(ConfigError, match=r"evaluate.models\[0\].kind is missing"):
        ev.parse_model_specs([{"name": "gpt", "kind": None, "path": None, "model": "gpt-4o"}])


def test_models_file_replaces_models_and_errors_name_the_file(tmp_path: Path) -> None:
    """The file stage=collect writes: base model + one checkpoint -> two local specs, in file order.
    Every problem with the file names it (and the JSON line, or the entry index)."""
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    models_file = tmp_path / "evaluate_models.json"
    models_file.write_text(
        json.dumps(
            [
                {"name": "base", "kind": "local", "path": None},
                {"name": "hard", "kind": "local", "path": str(checkpoint)},
            ]
        )
    )
    entries, source = ev.model_entries([], models_file)
    assert ev.parse_model_specs(entries, source) == [
        ev.ModelSpec("base", "local"),
        ev.ModelSpec("hard", "local", path=str(checkpoint)),
    ]
    assert ev.model_entries([{"name": "a"}], None) == ([{"name": "a"}], "evaluate.models")
    with pytest.raises(ConfigError, match="both set"):
        ev.model_entries([{"name": "a"}], models_file)
    with pytest.raises(ConfigError, match="no such file"):
        ev.model_entries([], tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"name": "base",\n')
    with pytest.raises(DataError, match=r"broken.json:3: not valid JSON"):
        ev.model_entries([], broken)
    broken.write_text('{"name": "base"}')
    with pytest.raises(DataError, match=r"broken.json: expected a JSON list"):
        ev.model_entries([], broken)
    broken.write_text(
        '[{"name": "base", "kind": "local"}, {"name": "gone", "kind": "local", "path": "/no/such/checkpoint"}]'
    )
    with pytest.raises(ConfigError, match=r"broken.json\[1\].path=/no/such/checkpoint: no such checkpoint"):
        ev.parse_model_specs(*ev.model_entries([], broken))


# ---------------------------------------------------------------- heuristic judge


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


# ---------------------------------------------------------------- cache and executor


class ScriptedBatch:
    """A batch backend answering from a list per call key; counts calls."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    def complete_batch(self, calls: list[ChatCall]) -> list[Completion]:
        self.sent += [c.messages[0]["content"] for c in calls]
        return [Completion(self.answers[c.messages[0]["content"]].pop(0), 3, 2, 0.5) for c in calls]


def _call(text: str, sample: int = 0) -> ChatCall:
    return ChatCall("m", [{"role": "user", "content": text}], {"t": 0}, sample)


def test_key_depends_on_model_messages_settings_and_sample() -> None:
    base = _call("q")
    assert base.key == _call("q").key
    variants = [
        _call("q", 1),
        _call("r"),
        ChatCall("n", base.messages, base.settings),
        ChatCall("m", base.messages, {"t": 1}),
    ]
    assert len({base.key, *(v.key for v in variants)}) == 5


def test_execute_retries_invalid_then_serves_from_cache(tmp_path: Path) -> None:
    """q1 answers junk, junk, [[A]] (valid on the 3rd ask); q2 answers junk three times: with
    invalid_retries=2 it is returned invalid with its raw text. A rerun sends only q2 again."""
    accept = lambda text: parse_pairwise(text) is not None  # noqa: E731
    backend = ScriptedBatch({"q1": ["junk", "junk", "[[A]]"], "q2": ["junk", "junk", "junk", "[[B]]"]})
    policy = CallPolicy(invalid_retries=2, batch_size=4)
    cache = CallCache(tmp_path / "calls.jsonl")
    first = execute([_call("q1"), _call("q2"), _call("q1")], lambda: backend, cache, policy, accept)
    assert [(r.text, r.valid, r.attempts) for r in first] == [
        ("[[A]]", True, 3),
        ("junk", False, 3),
        ("[[A]]", True, 3),
    ]
    assert backend.sent == ["q1", "q2", "q1", "q2", "q1", "q2"]
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 6

    backend.sent.clear()
    again = execute(
        [_call("q1"), _call("q2")], lambda: backend, CallCache(tmp_path / "calls.jsonl"), policy, accept
    )
    assert backend.sent == ["q2"]
    assert [(r.text, r.cached) for r in again] == [("[[A]]", True), ("[[B]]", False)]


def test_fully_cached_execute_never_builds_the_backend(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.jsonl")
    execute([_call("x")], lambda: ScriptedBatch({"x": ["ok"]}), cache, CallPolicy())

    def forbidden() -> ScriptedBatch:
        raise AssertionError("backend built for a cached call")

    assert execute([_call("x")], forbidden, CallCache(tmp_path / "c.jsonl"), CallPolicy())[0].text == "ok"


class EchoAsync:
    """An async API backend answering `echo <content> from <pid>`; `die` ends its process, `refuse`
    raises the error a rejected API key gives."""

    async def acomplete(self, call: ChatCall) -> Completion:
        content = call.messages[0]["content"]
        if content == "die":
            os._exit(3)
        if content == "refuse":
            raise ConfigError("judge: the API rejected the key")
        return Completion(f"echo {content} from {os.getpid()}", 1, 1, 0.0)


def test_client_processes_answer_every_call_once(tmp_path: Path) -> None:
    """processes=2: calls are answered in two forked processes, each exactly once; the parent
    alone writes the cache, and a rerun is served from it."""
    calls = [_call(f"q{i}") for i in range(40)]
    policy = CallPolicy(concurrency=4, processes=2)
    results = execute(calls, EchoAsync, CallCache(tmp_path / "c.jsonl"), policy)
    assert [r.text.split(" from ")[0] for r in results] == [f"echo q{i}" for i in range(40)]
    pids = {int(r.text.rsplit(" ", 1)[1]) for r in results}
    assert len(pids) == 2 and os.getpid() not in pids
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(call.key for call in calls)
    again = execute(calls, EchoAsync, CallCache(tmp_path / "c.jsonl"), policy)
    assert all(r.cached for r in again) and [r.text for r in again] == [r.text for r in results]


def test_a_dead_client_process_leaves_its_calls_failed_not_lost() -> None:
    calls = [_call("a"), _call("die"), _call("b")]
    results = execute(calls, EchoAsync, CallCache(None), CallPolicy(concurrency=1, processes=2))
    assert results[0].valid and results[2].valid  # both in the surviving process (calls[0::2])
    assert results[1].text is None and "client process exited (code [3])" in (results[1].error or "")


def test_a_client_process_error_reaches_the_caller() -> None:
    with pytest.raises(ConfigError, match="rejected the key"):
        execute([_call("a"), _call("refuse")], EchoAsync, CallCache(None), CallPolicy(processes=2))


def test_cache_drops_a_partial_last_line_and_rejects_corrupt_ones(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    cache = CallCache(path)
    cache.append({"key": "a", "text": "[[A]]"})
    with open(path, "a") as handle:
        handle.write('{"key": "b", "te')  # a writer killed mid-line
    reopened = CallCache(path)
    assert len(reopened) == 1 and path.read_text().endswith("\n")
    reopened.append({"key": "c", "text": "x"})
    assert len(CallCache(path)) == 2
    path.write_text('{"key": "a", "text": "x"}\nnot json\n{"key": "b", "text": "y"}\n')
    with pytest.raises(DataError, match=r"calls.jsonl:2"):
        CallCache(path)


def test_backoff_honours_retry_after_else_doubles() -> None:
    policy = CallPolicy(retry_backoff=1.0, max_backoff=5.0)
    assert backoff_delay(3, policy, retry_after=2.5) == 2.5
    assert 0.9 <= backoff_delay(0, policy, None) <= 1.1
    assert 3.6 <= backoff_delay(2, policy, None) <= 4.4
    assert backoff_delay(10, policy, None) <= 5.5


# ---------------------------------------------------------------- constitution


def test_default_constitution_has_a_bank() -> None:
    source, clauses = load_constitution(None)
    assert 20 <= len(clauses) <= 40
    assert [c.id for c in clauses] == list(range(1, len(clauses) + 1))
    for clause in clauses:
        assert len(set(clause.questions)) >= 5, clause.id
        assert bank_questions(clause, 5, source) == list(clause.questions[:5])
    with pytest.raises(ConfigError, match=r"questions\.n_questions=99"):
        bank_questions(clauses[0], 99, source)


def test_text_constitution_and_clause_range(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("# my constitution\n1. Be kind.\n2) Be honest\n   even when it is hard.\n3. Be brief.\n")
    _, clauses = load_constitution(path)
    assert [(c.id, c.text) for c in clauses] == [
        (1, "Be kind."),
        (2, "Be honest even when it is hard."),
        (3, "Be brief."),
    ]
    assert [c.id for c in select_clauses(clauses, 2, None)] == [2, 3]
    with pytest.raises(ConfigError, match="start_clause=5"):
        select_clauses(clauses, 5, 9)
    (tmp_path / "bad.txt").write_text("Be kind.\n")
    with pytest.raises(DataError, match=r"bad.txt:1"):
        load_constitution(tmp_path / "bad.txt")
