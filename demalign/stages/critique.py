"""A critic scores every candidate against the constitution (1-5 with a reason): critiques.jsonl.

    demalign stage=critique judge=heuristic critique.candidates=<candidates.jsonl>
    demalign stage=critique judge=litellm judge.model=<critic> critique.dry_run=true ...   # calls, tokens, cost

The critic is the `judge` group's backend (heuristic offline, litellm, hf); the rubric is the
constitution's clauses (the `constitution` group's range, or `critique.clauses`). Answers are parsed
strictly (`judging.pointwise`); an unparseable one is re-asked `judge.invalid_retries` times, then
recorded with `valid: false`, `score: null` and its raw text: excluded from every summary here and
from selection, never scored. `safe` = score >= `critique.safe_threshold`. Every call goes through the
call cache in `critique.cache_dir`, so a rerun (also after a kill) repeats no finished call and
re-asks failed or unparseable ones. Row format: `demalign.curation.critiques`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.constitution.clauses import constitution_path, load_constitution, select_clauses
from demalign.curation.candidates import Candidate, load_candidates
from demalign.curation.critiques import (
    NO_CATEGORY,
    category_summary,
    critique_rows,
    critique_summary,
    critique_targets,
    rubric_text,
    score_counts,
)
from demalign.errors import ConfigError
from demalign.judging import budget
from demalign.judging.pointwise import ScoreScale, critique_accept, pointwise_jobs, pointwise_rows
from demalign.llm.cache import CallCache
from demalign.llm.execute import execute, usage_rows, usage_section, usage_summary
from demalign.llm.roles import Role, judge_role
from demalign.reports import markdown_table, new_figure, save_figure

log = logging.getLogger(__name__)

OPTIONS = "critique"
SHARED = ("judge", "constitution", "model")  # model: the hf critic defaults to the model group's base model
CRITIQUES = "critiques.jsonl"
USAGE = "usage.jsonl"


@dataclass(frozen=True)
class Inputs:
    candidates: Path  # JSONL {prompt_id, prompt, candidate_id, candidate, category?} (curation.candidates)
    constitution: Path  # the constitution the critic scores against

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.candidates), constitution_path(env.constitution.path))


@dataclass(frozen=True)
class Outputs:
    critiques: Path  # one row per candidate, valid or not (curation.critiques)
    usage: Path  # tokens and cost per distinct call

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / CRITIQUES, Path(folder) / USAGE)


def scale_of(opts: DictConfig) -> ScoreScale:
    scale = ScoreScale(int(opts.scale_low), int(opts.scale_high))
    if not scale.low <= int(opts.safe_threshold) <= scale.high:
        raise ConfigError(
            f"critique.safe_threshold={opts.safe_threshold} is outside the scale {scale.low}..{scale.high}"
        )
    return scale


def rubric(opts: DictConfig, env: DictConfig, constitution: Path) -> tuple[str, list[int]]:
    """The clauses the critic sees, as text, and their ids."""
    source, clauses = load_constitution(constitution)
    clauses = select_clauses(clauses, env.constitution.start_clause, env.constitution.end_clause)
    if opts.clauses is not None:
        wanted = [int(i) for i in opts.clauses]
        known = {c.id: c for c in clauses}
        missing = [i for i in wanted if i not in known]
        if missing or not wanted:
            raise ConfigError(
                f"critique.clauses={wanted}: {'no clause given' if not wanted else f'ids {missing} are not'} "
                f"among the clauses of {source} in use ({min(known)}..{max(known)})"
            )
        clauses = [known[i] for i in wanted]
    return rubric_text(clauses), [c.id for c in clauses]


def _dry_run(env: DictConfig, run: Run, jobs: list, critic: Role) -> None:
    """Critic calls (distinct requests), prompt tokens of the real prompts, completion tokens at the
    critic's whole budget and the expected cost; sends nothing."""
    from demalign.llm.litellm_backend import expected_cost

    distinct = {job.call.key: job.call for job in jobs}
    budget_tokens = int(env.judge.get("max_output_tokens") or env.judge.get("max_new_tokens") or 0)
    prompt_tokens = sum(budget.estimate_tokens(m["content"]) for c in distinct.values() for m in c.messages)
    completion_tokens = len(distinct) * budget_tokens
    priced = critic.price_model is not None
    cost = expected_cost(critic.price_model, prompt_tokens, completion_tokens) if priced else 0.0
    rows = [{"part": "critique", "calls": len(distinct), "prompt_tokens": prompt_tokens,
             "completion_tokens": completion_tokens, "api_calls": len(distinct) if priced else 0,
             "expected_cost_usd": cost}]  # fmt: skip
    note = (
        f"{len(jobs)} candidates, {len(distinct)} distinct critic calls (identical requests are sent once). Prompt "
        "tokens are the real prompts at 4 characters per token; completions use their whole budget "
        f"({budget_tokens} tokens); cost is litellm's bundled price (None = unknown)."
    )
    table = markdown_table(rows)
    print(f"critique.dry_run: nothing sent.\n{note}\n{table}")
    run.metrics.update(dry_run=True, estimate=rows)
    run.section("Critique dry run", f"{note}\n\n{table}")


def _histogram(run: Run, counts: dict[str, int]) -> str:
    fig = new_figure(6, 3.2)
    axis = fig.add_subplot()
    labels = list(counts)
    axis.bar(labels, [counts[k] for k in labels], color=["C0"] * (len(labels) - 1) + ["C3"])
    axis.set_xlabel("critic score (invalid: never scored)")
    axis.set_ylabel("candidates")
    return save_figure(run, "score_histogram.png", fig)


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    scale = scale_of(opts)
    threshold = int(opts.safe_threshold)
    candidates: list[Candidate] = load_candidates(inputs.candidates)
    run.record_input(inputs.candidates)
    run.record_input(inputs.constitution)
    text, clause_ids = rubric(opts, env, inputs.constitution)

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    critic = judge_role(OmegaConf.to_container(env.judge), base_model)
    jobs = pointwise_jobs(critique_targets(candidates, text), critic.identity, 1, scale)
    if opts.dry_run:
        _dry_run(env, run, jobs, critic)
        return Outputs.in_folder(run.dir)

    calls = [job.call for job in jobs]
    results = execute(calls, lambda: critic.backend, CallCache(Path(opts.cache_dir) / "calls.jsonl"),
                      critic.policy, critique_accept(scale), desc="critique")  # fmt: skip
    rows = critique_rows(candidates, pointwise_rows(jobs, results, scale), threshold)
    run.write_jsonl(CRITIQUES, rows)
    run.write_jsonl(USAGE, usage_rows("critique", calls, results))
    usage = usage_summary(results)
    summary = critique_summary(rows)
    counts = score_counts(rows, scale)
    categories = category_summary(rows)
    failed = sum(row["error"] is not None for row in rows)
    prompts = len({c.prompt_id for c in candidates})
    run.metrics.update(prompts=prompts, **summary, failed=failed, score_counts=counts, categories=categories,
                       clauses=clause_ids, usage=usage)  # fmt: skip

    run.section(
        "Critique",
        f"Critic `{critic.identity.name}` ({env.judge.backend}) scored {len(rows)} candidates of {prompts} prompts "
        f"from `{inputs.candidates}` on {scale.low}..{scale.high} against {len(clause_ids)} clauses of "
        f"`{inputs.constitution}` (ids {_ranges(clause_ids)}); safe = score >= {threshold}. Invalid = the answer "
        f"did not parse after {critic.policy.invalid_retries} re-asks, or the call failed ({failed}): raw text "
        f"kept in `{CRITIQUES}`, excluded from every number below and from selection.",
    )
    score_rows = [{"score": k, "candidates": v} for k, v in counts.items()]
    mean = "n/a" if summary["mean_score"] is None else f"{summary['mean_score']:.3f}"
    rate = "n/a" if summary["safe_rate"] is None else f"{summary['safe_rate']:.3f}"
    run.section(
        "Scores",
        f"{summary['valid']} valid, {summary['invalid']} invalid; mean score {mean}, safe rate {rate} (over valid "
        f"verdicts).\n\n{markdown_table(score_rows)}\n{_histogram(run, counts)}",
    )
    run.section(
        "Safe rate per category",
        f"Over valid verdicts; {NO_CATEGORY} = candidates without a category.\n\n"
        + markdown_table(categories, ["category", "candidates", "valid", "invalid", "safe", "safe_rate",
                                      "mean_score"]),
    )  # fmt: skip
    run.section("Tokens and cost", usage_section([{"part": "critique", **usage}]))
    return Outputs.in_folder(run.dir)


def _ranges(ids: list[int]) -> str:
    """E.g. [1, 2, 3, 7, 9, 10] -> "1-3, 7, 9-10"."""
    parts: list[str] = []
    for i in ids:
        if parts and i == int(parts[-1].rsplit("-", 1)[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ", ".join(parts)
