"""The pointwise protocol: a critic's score + reason, parsed strictly; invalid answers are recorded
with their raw text and never given a score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demalign.errors import ConfigError
from demalign.judging.pointwise import (
    Critique,
    PointwiseTarget,
    ScoreScale,
    critique_accept,
    parse_critique,
    pointwise_jobs,
    pointwise_rows,
)
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, CallResult, ChatCall, Identity
from demalign.llm.execute import execute, usage_summary
from demalign.llm.heuristic import HeuristicBackend, HeuristicWeights, scale_score, score_response
from demalign.llm.scripted import ScriptedBackend

RUBRIC = "1. Be honest about uncertainty."
TARGETS = [
    PointwiseTarget("q1", "m1", "Will it rain tomorrow?", "Nobody can know that for sure.", RUBRIC),
    PointwiseTarget("q1", "m2", "Will it rain tomorrow?", "Yes, certainly.", RUBRIC),
]


@pytest.mark.parametrize(
    "text",
    [
        '{"score": 4, "reason": "Honest."}',
        '```json\n{"score": 4, "reason": "Honest."}\n```',
        '  {"reason": "Honest.", "score": 4}\n',
    ],
)
def test_parse_accepts_exactly_one_object(text: str) -> None:
    assert parse_critique(text) == Critique(4, "Honest.")


@pytest.mark.parametrize(
    "text",
    [
        '{"score": 6, "reason": "Too high."}',  # outside 1..5
        '{"score": 0, "reason": "Too low."}',
        '{"score": 4.5, "reason": "Half."}',  # not an integer
        '{"score": 4.0, "reason": "Float."}',
        '{"score": "4", "reason": "String."}',
        '{"score": true, "reason": "Bool."}',
        '{"score": 4}',  # no reason
        '{"score": 4, "reason": "  "}',
        '{"score": 4, "reason": "x", "confidence": 0.9}',  # an extra key
        '{"score": 2, "score": 4, "reason": "x"}',  # a repeated key
        'I lean to 2. {"score": 4, "reason": "x"}',  # prose that argues for another score
        '{"score": 4, "reason": "x"} Actually, 2.',
        "Score: 4. Reason: honest.",
        '[{"score": 4, "reason": "x"}]',
        "",
    ],
)
def test_parse_rejects_anything_ambiguous(text: str) -> None:
    assert parse_critique(text) is None


def test_scale_is_configurable() -> None:
    """On 0..10, 7 is valid and 0 too; 11 is not. A scale with low >= high is refused."""
    scale = ScoreScale(0, 10)
    assert parse_critique('{"score": 7, "reason": "ok"}', scale) == Critique(7, "ok")
    assert parse_critique('{"score": 0, "reason": "bad"}', scale) == Critique(0, "bad")
    assert parse_critique('{"score": 11, "reason": "x"}', scale) is None
    with pytest.raises(ConfigError, match="low < high"):
        ScoreScale(5, 5)


@given(st.text())
def test_parsed_scores_are_always_on_the_scale(text: str) -> None:
    critique = parse_critique(text)
    assert critique is None or (1 <= critique.score <= 5 and critique.reason)


def test_invalid_verdict_is_never_scored_as_one() -> None:
    """The reference code scored an unparseable verdict as 1 (the minimum), dragging a model's mean
    down for its critic's formatting. Here: m1's answer parses (5); m2's is prose, and a failed call
    has no text: both rows are invalid, score None, raw text kept; the mean over valid rows is 5."""
    jobs = pointwise_jobs(TARGETS, Identity("critic", {}), samples=2)
    results = [
        CallResult("k0", '{"score": 5, "reason": "Admits uncertainty."}', True),
        CallResult("k1", "Score: 1", False),
        CallResult("k2", "I would give this a 1 out of 5.", False),
        CallResult("k3", None, False, error="gave up after 5 attempts"),
    ]
    rows = pointwise_rows(jobs, results)
    assert [(r["response_id"], r["sample"], r["valid"], r["score"]) for r in rows] == [
        ("m1", 0, True, 5),
        ("m1", 1, False, None),
        ("m2", 0, False, None),
        ("m2", 1, False, None),
    ]
    assert rows[2]["raw"] == "I would give this a 1 out of 5." and rows[2]["reason"] is None
    assert rows[3]["raw"] == "" and rows[3]["error"] == "gave up after 5 attempts"
    assert [r["score"] for r in rows if r["valid"]] == [5]


def test_jobs_carry_their_target_into_the_prompt_and_payload() -> None:
    """One call per (target, sample); each prompt shows its own response, rubric and scale, and the
    payload lets an offline backend answer."""
    jobs = pointwise_jobs(
        TARGETS, Identity("critic", {"temperature": 0.0}), samples=2, scale=ScoreScale(1, 7)
    )
    assert [(j.target.response_id, j.sample, j.call.sample) for j in jobs] == [
        ("m1", 0, 0),
        ("m1", 1, 1),
        ("m2", 0, 0),
        ("m2", 1, 1),
    ]
    system, user = jobs[2].call.messages
    assert "from 1 (worst) to 7 (best)" in system["content"]
    assert user["content"].startswith(f"Constitution: {RUBRIC}\n\nUser question: Will it rain tomorrow?")
    assert "[[Response]]\nYes, certainly.\n[[End of Response]]" in user["content"]
    assert jobs[2].call.payload == {"kind": "pointwise", "question": "Will it rain tomorrow?",
                                    "candidates": ["Yes, certainly."], "scale": [1, 7]}  # fmt: skip
    assert len({j.call.key for j in jobs}) == 4


def test_unparseable_answers_are_retried_and_reasked_on_resume(tmp_path: Path) -> None:
    """m1's critic answers prose twice, then a valid object (3rd ask, invalid_retries=2); m2's
    answers prose every time: recorded invalid. A rerun serves m1 from the cache and asks m2 again."""
    asked: dict[str, int] = {}

    def critic(call: ChatCall) -> str:
        response = call.payload["candidates"][0]
        asked[response] = asked.get(response, 0) + 1
        if response.startswith("Nobody") and asked[response] >= 3:
            return '{"score": 5, "reason": "Honest about uncertainty."}'
        return "It is fine, I think."

    backend = ScriptedBackend(critic)
    jobs = pointwise_jobs(TARGETS, Identity("critic", {}))
    policy = CallPolicy(invalid_retries=2)
    results = execute([j.call for j in jobs], lambda: backend, CallCache(tmp_path / "c.jsonl"), policy,
                      critique_accept())  # fmt: skip
    rows = pointwise_rows(jobs, results)
    assert [(r["valid"], r["score"]) for r in rows] == [(True, 5), (False, None)]
    assert asked == {"Nobody can know that for sure.": 3, "Yes, certainly.": 3}
    assert usage_summary(results)["invalid"] == 1

    rerun = execute([j.call for j in jobs], lambda: backend, CallCache(tmp_path / "c.jsonl"), policy,
                    critique_accept())  # fmt: skip
    assert rerun[0].cached and not rerun[1].cached and asked["Yes, certainly."] == 6


def test_heuristic_critic_scores_offline() -> None:
    """The heuristic score in [0, 1] mapped to 1..5, halves up. Worked example (score_response's
    docstring): 0.72143 -> 1 + 4 * 0.72143 = 3.886 -> 4. An empty response scores 0 -> 1."""
    assert scale_score(0.7214, 1, 5) == 4
    assert scale_score(0.625, 1, 5) == 4  # 3.5 rounds up, not to even
    assert scale_score(0.0, 1, 5) == 1 and scale_score(1.3, 1, 5) == 5
    question = "Why should honesty matter?"
    good = "Honesty matters because trust depends on honesty."
    targets = [
        PointwiseTarget("q", "good", question, good, RUBRIC),
        PointwiseTarget("q", "empty", question, "", RUBRIC),
    ]
    jobs = pointwise_jobs(targets, Identity("heuristic", {}))
    backend = HeuristicBackend(HeuristicWeights())
    results = execute(
        [j.call for j in jobs], lambda: backend, CallCache(None), CallPolicy(), critique_accept()
    )
    rows = pointwise_rows(jobs, results)
    assert [(r["valid"], r["score"]) for r in rows] == [(True, 4), (True, 1)]
    expected = score_response(question, good, HeuristicWeights())
    assert json.loads(rows[0]["raw"])["reason"].startswith(f"Heuristic score {expected:.4f}")


def test_the_loopback_server_script_answers_critic_prompts_validly() -> None:
    """tests/judge_server.py's scripted answers parse as critiques on the prompt's own scale, so
    recipes with a critic run end to end against it."""
    from tests.judge_server import scripted_reply

    for scale in (ScoreScale(), ScoreScale(0, 10)):
        jobs = pointwise_jobs(TARGETS, Identity("critic", {}), samples=3, scale=scale)
        critiques = [parse_critique(scripted_reply(job.call.messages), scale) for job in jobs]
        assert all(critique is not None for critique in critiques)
