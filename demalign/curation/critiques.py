"""Critic verdicts on candidates: the critique stage's `critiques.jsonl`, which the select stage reads.

One row per candidate, in the candidates file's order:

    {prompt_id, prompt, candidate_id, candidate, category,     # the candidate, as given
     score, reason, valid, safe, raw, error}                   # the critic's verdict

- valid: the critic's answer parsed (after `invalid_retries` re-asks); `score` (an integer on the
  scale) and `reason` are set only then; otherwise both are null, `raw` keeps the answer's text
  (empty when the call failed) and `error` says why the call failed (null otherwise). An invalid
  verdict is never turned into a number: it is excluded from every summary and from selection.
- safe: score >= safe_threshold for a valid verdict, null for an invalid one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from demalign.artifacts import numbered_jsonl
from demalign.constitution.clauses import Clause
from demalign.curation.candidates import CANDIDATE_FIELDS, Candidate, check_candidates, parse_candidate
from demalign.errors import ConfigError, DataError
from demalign.judging.pointwise import PointwiseTarget, ScoreScale

VERDICT_FIELDS = ("score", "reason", "valid", "safe", "raw", "error")
CRITIQUE_FIELDS = (*CANDIDATE_FIELDS, "category", *VERDICT_FIELDS)
NO_CATEGORY = "(none)"


def rubric_text(clauses: Sequence[Clause]) -> str:
    """The constitution as the critic sees it: one numbered clause per line ("3. Be concise ...")."""
    return "\n".join(f"{clause.id}. {clause.text}" for clause in clauses)


def critique_targets(candidates: Sequence[Candidate], rubric: str) -> list[PointwiseTarget]:
    """One pointwise target per candidate (item = prompt_id, response = candidate_id)."""
    return [PointwiseTarget(c.prompt_id, c.candidate_id, c.prompt, c.candidate, rubric) for c in candidates]


def critique_rows(
    candidates: Sequence[Candidate], verdicts: Sequence[dict[str, Any]], safe_threshold: int
) -> list[dict[str, Any]]:
    """Candidate fields + verdict per candidate; `verdicts[n]` is `pointwise_rows`' row for candidates[n]."""
    rows = []
    for cand, verdict in zip(candidates, verdicts, strict=True):
        if (verdict["item_id"], verdict["response_id"]) != (cand.prompt_id, cand.candidate_id):
            raise AssertionError(f"verdict for {verdict['item_id']}/{verdict['response_id']} on {cand}")
        valid = bool(verdict["valid"])
        rows.append({
            **cand.row(), "score": verdict["score"], "reason": verdict["reason"], "valid": valid,
            "safe": verdict["score"] >= safe_threshold if valid else None, "raw": verdict["raw"],
            "error": verdict.get("error"),
        })  # fmt: skip
    return rows


def load_critiques(path: Path | str, scale: ScoreScale | None = None) -> list[dict[str, Any]]:
    """The rows of a critiques file, checked line by line (file:line errors): a valid row has an
    integer score (on `scale` when given), a reason and a boolean `safe`; an invalid one has neither."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: no critiques file; point select.critiques at a critique run's critiques.jsonl"
        )
    rows, located = [], []
    for lineno, row in numbered_jsonl(path, (*CANDIDATE_FIELDS, "score", "reason", "valid", "safe")):
        where = f"{path}:{lineno}"
        cand = parse_candidate(row, where)
        valid, score = row["valid"], row["score"]
        if not isinstance(valid, bool):
            raise DataError(f"{where}: `valid` must be true or false (got {valid!r})")
        if valid:
            if type(score) is not int or (scale and not scale.low <= score <= scale.high):
                raise DataError(
                    f"{where}: a valid critique needs an integer `score` on the scale (got {score!r})"
                )
            if not isinstance(row["reason"], str) or not isinstance(row["safe"], bool):
                raise DataError(f"{where}: a valid critique needs a string `reason` and a boolean `safe`")
        elif score is not None:
            raise DataError(
                f"{where}: an invalid critique has `score: null` (got {score!r}); it is never scored"
            )
        located.append((where, cand))
        rows.append({**row, **cand.row()})
    check_candidates(located)
    return rows


def score_counts(rows: Sequence[dict[str, Any]], scale: ScoreScale) -> dict[str, int]:
    """Valid verdicts per score, every score of the scale listed, then `invalid`. E.g. scores 5, 5, 2
    and one invalid on 1..5 -> {"1": 0, "2": 1, "3": 0, "4": 0, "5": 2, "invalid": 1}."""
    counted = Counter(row["score"] for row in rows if row["valid"])
    counts = {str(s): counted.get(s, 0) for s in range(scale.low, scale.high + 1)}
    counts["invalid"] = sum(not row["valid"] for row in rows)
    return counts


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    valid = [row for row in rows if row["valid"]]
    return {
        "candidates": len(rows),
        "valid": len(valid),
        "invalid": len(rows) - len(valid),
        "safe": sum(row["safe"] for row in valid),
        "safe_rate": sum(row["safe"] for row in valid) / len(valid) if valid else None,
        "mean_score": sum(row["score"] for row in valid) / len(valid) if valid else None,
    }


def critique_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """candidates, valid, invalid, safe, safe_rate and mean_score over valid verdicts only (None
    when there is none). E.g. scores 5, 3 and one invalid, threshold 4 -> safe_rate 0.5, mean 4.0."""
    return _summary(rows)


def category_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`critique_summary` per category, in order of first appearance (no category = "(none)")."""
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_category.setdefault(row.get("category") or NO_CATEGORY, []).append(row)
    return [{"category": name, **_summary(group)} for name, group in by_category.items()]


def model_of(candidate_id: str) -> str:
    """The model that wrote a candidate: generate names candidates `<model>/<k>`."""
    model, slash, _ = candidate_id.rpartition("/")
    return model if slash else candidate_id


def model_scores(rows: Sequence[dict[str, Any]], model: str, scoring: str) -> list[dict[str, Any]]:
    """One row per prompt for `model`: `{id, prompt, category, score, answer, reason, candidate_id}`,
    in first-appearance order; `score` None when the verdict is invalid.

    - `single`: the model's one answer per prompt (greedy when generated greedily); a prompt with
      more than one answer is an error, never silently reduced.
    - `best_of_n`: the best valid score among the model's answers (the seed's scoring: an optimistic
      figure, since the best of N draws beats a typical answer); the first such answer on ties; None
      only when every verdict is invalid."""
    if scoring not in ("single", "best_of_n"):
        raise ConfigError(f"compare.scoring={scoring!r}: choose single or best_of_n")
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if model_of(str(row["candidate_id"])) == model:
            by_prompt.setdefault(str(row["prompt_id"]), []).append(row)
    if not by_prompt:
        found = sorted({model_of(str(row["candidate_id"])) for row in rows})
        raise DataError(f"no critiques of model {model!r}; the critiques hold models {found}")
    out = []
    for prompt_id, answers in by_prompt.items():
        if scoring == "single" and len(answers) > 1:
            raise DataError(
                f"compare.scoring=single needs one answer per prompt, but model {model!r} has {len(answers)} for "
                f"prompt {prompt_id!r} ({[a['candidate_id'] for a in answers]}); use compare.scoring=best_of_n "
                "(the seed's optimistic best-of-N) or generate one answer per prompt"
            )
        valid = [a for a in answers if a["valid"]]
        chosen = max(valid, key=lambda a: a["score"]) if valid else answers[0]  # max keeps the first on ties
        out.append({
            "id": prompt_id, "prompt": chosen["prompt"], "category": chosen.get("category"),
            "score": chosen["score"] if chosen["valid"] else None, "answer": chosen["candidate"],
            "reason": chosen["reason"], "candidate_id": chosen["candidate_id"],
        })  # fmt: skip
    return out
