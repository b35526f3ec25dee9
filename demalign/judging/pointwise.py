"""Pointwise critique: a critic scores one response on an integer scale (1-5 by default) against a
constitution or rubric, with a reason.

The answer must be a JSON object `{"score": <int>, "reason": "<text>"}` and nothing else (a
```json fence around it is allowed). Anything else is invalid: a score outside the scale, a
non-integer score (4.5, "4", true), a missing or empty reason, an extra or repeated key, or prose
around the object (prose could argue for another score than the one given). An invalid answer is
re-asked `invalid_retries` times (`accept`), then recorded with its raw text, `valid=False` and
`score=None`: it is never turned into a number (a reference implementation scored unparseable
verdicts as 1, which drags a model's mean down for its critic's formatting mistakes).

`pointwise_jobs` keeps each call with the (item, response, sample) it scores, and `pointwise_rows`
reads the scores back through those descriptors, so a score cannot attach to the wrong response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from demalign.errors import ConfigError
from demalign.llm.calls import CallResult, ChatCall, Identity
from demalign.llm.templates import load_template

POINTWISE_TEMPLATE = "critic_pointwise"
_FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", flags=re.DOTALL)


@dataclass(frozen=True)
class ScoreScale:
    """The integer scores a critic may give, `low` (worst) to `high` (best), both included."""

    low: int = 1
    high: int = 5

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int) and self.low < self.high):
            raise ConfigError(f"score scale {self.low}..{self.high}: need integers with low < high")


@dataclass(frozen=True)
class Critique:
    """A parsed, valid answer."""

    score: int
    reason: str


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("repeated key")
    return dict(pairs)


def parse_critique(text: str, scale: ScoreScale = ScoreScale()) -> Critique | None:
    """The critique if `text` is exactly one valid JSON object (optionally fenced), else None.
    E.g. scale 1..5: '{"score": 4, "reason": "Clear."}' -> Critique(4, "Clear."); '{"score": 6,
    "reason": "x"}' -> None; '{"score": 4.0, "reason": "x"}' -> None; 'Score: 4' -> None;
    'I would say 2. {"score": 4, "reason": "x"}' -> None."""
    body = text.strip()
    fenced = _FENCED.fullmatch(body)
    if fenced:
        body = fenced.group(1)
    try:
        parsed = json.loads(body, object_pairs_hook=_unique_keys)
    except ValueError:  # malformed JSON, trailing prose, or a repeated key
        return None
    if not isinstance(parsed, dict) or set(parsed) != {"score", "reason"}:
        return None
    score, reason = parsed["score"], parsed["reason"]
    if type(score) is not int or not scale.low <= score <= scale.high:  # bool is an int subclass
        return None
    if not isinstance(reason, str) or not reason.strip():
        return None
    return Critique(score, reason.strip())


def critique_accept(scale: ScoreScale = ScoreScale()) -> Callable[[str], bool]:
    """`execute`'s accept for critic calls: an answer that does not parse is re-asked."""
    return lambda text: parse_critique(text, scale) is not None


def critique_messages(rubric: str, question: str, response: str, scale: ScoreScale) -> list[dict[str, str]]:
    return load_template(POINTWISE_TEMPLATE).messages(
        rubric=rubric, question=question, response=response, low=scale.low, high=scale.high
    )


@dataclass(frozen=True)
class PointwiseTarget:
    """One response to score: `item_id` names the prompt, `response_id` the response among that
    prompt's responses (a model name, a sample index), `rubric` what it is scored against."""

    item_id: str
    response_id: str
    question: str
    response: str
    rubric: str


@dataclass(frozen=True)
class PointwiseJob:
    """Critic sample `sample` on `target`, through `call`."""

    target: PointwiseTarget
    sample: int
    call: ChatCall


def pointwise_jobs(
    targets: Sequence[PointwiseTarget], critic: Identity, samples: int = 1, scale: ScoreScale = ScoreScale()
) -> list[PointwiseJob]:
    """One job per (target, critic sample), in target order. The payload lets backends that do not
    read prompts (the heuristic critic) answer from the question, response and scale."""
    jobs = []
    for target in targets:
        messages = critique_messages(target.rubric, target.question, target.response, scale)
        payload = {"kind": "pointwise", "question": target.question, "candidates": [target.response],
                   "scale": [scale.low, scale.high]}  # fmt: skip
        jobs += [PointwiseJob(target, k, critic.call(messages, k, payload)) for k in range(samples)]
    return jobs


def pointwise_rows(
    jobs: Sequence[PointwiseJob], results: Sequence[CallResult], scale: ScoreScale = ScoreScale()
) -> list[dict[str, Any]]:
    """One row per job: `score` and `reason` when valid; else `valid: false`, `score: None` and the
    raw text (empty when the call failed, with its `error`). `results[n]` answers `jobs[n].call`."""
    rows = []
    for job, result in zip(jobs, results, strict=True):
        critique = parse_critique(result.text, scale) if result.text is not None else None
        row = {
            "item_id": job.target.item_id,
            "response_id": job.target.response_id,
            "sample": job.sample,
            "question": job.target.question,
            "response": job.target.response,
            "valid": critique is not None,
            "score": critique.score if critique else None,
            "reason": critique.reason if critique else None,
            "raw": result.text or "",
        }
        if result.error:
            row["error"] = result.error
        rows.append(row)
    return rows
