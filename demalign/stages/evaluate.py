"""A judge compares every model's answers to the same questions: pairwise and/or listwise.

    demalign stage=evaluate judge=heuristic evaluate.responses_dir=<generate run>/responses
    demalign stage=evaluate judge=litellm evaluate.dry_run=true ...     # counts, tokens, cost; sends nothing

Reads a response set (the generate stage's `responses/`) and writes `pairwise.jsonl` and/or
`listwise.jsonl`, `preferences.jsonl` and `usage.jsonl` (tokens and cost per call). Every judgement
goes through the call cache in `evaluate.cache_dir`: a rerun (also after a kill) repeats no finished
call and re-asks failed or unparseable ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.constitution.questions import Item
from demalign.errors import ConfigError
from demalign.judging import budget
from demalign.judging.listwise import listwise_jobs, listwise_rows, listwise_summary, parse_ranking
from demalign.judging.pairwise import (
    accept_pairwise,
    order_effects,
    pairwise_jobs,
    pairwise_rows,
    preferences,
)
from demalign.judging.responses import load_response_set
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallResult, ChatCall
from demalign.llm.execute import execute, usage_rows, usage_section, usage_summary
from demalign.llm.roles import Role, judge_role
from demalign.reports import markdown_table, new_figure, save_figure

log = logging.getLogger(__name__)

OPTIONS = "evaluate"
SHARED = ("model", "judge")  # model: the hf judge defaults to the model group's base model
MODES = ("pairwise", "listwise", "both")
RANK_INPUTS = ("pairwise", "listwise", "preferences")
COUNT_FORMULAS = {"pairwise": "Q·M(M−1)/2 pairs·2 orders·J", "listwise": "Q·J"}
JUDGEMENT_COLUMNS = ["mode", "judgements", "valid", "invalid", "order pairs compared", "flipped by order", "flip rate",
                     "first shown wins"]  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    responses_dir: Path  # the generate stage's responses/: models.json + <model>.jsonl

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.responses_dir))


@dataclass(frozen=True)
class Outputs:
    pairwise: Path | None  # each None when the mode did not produce it
    listwise: Path | None
    preferences: Path | None

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        found = {kind: Path(folder) / f"{kind}.jsonl" for kind in RANK_INPUTS}
        return cls(**{kind: path if path.is_file() else None for kind, path in found.items()})


def _judge(
    calls: list[ChatCall], judge: Role, call_cache: CallCache, accept: Callable[[str], bool], desc: str
) -> list[CallResult]:
    return execute(calls, lambda: judge.backend, call_cache, judge.policy, accept, desc=desc)


def _dry_run(
    ecfg: DictConfig, judge_cfg: DictConfig, run: Run, items: list[Item], models: list[str],
    responses: dict[str, dict[str, str]], judge: Role,
) -> None:  # fmt: skip
    """Judge calls, upper-bound tokens (judge prompts sized with the longest real response) and the
    expected cost; sends nothing."""
    from demalign.llm.litellm_backend import expected_cost

    judge_budget = int(judge_cfg.get("max_output_tokens") or judge_cfg.get("max_new_tokens") or 0)
    longest = max(budget.estimate_tokens(text) for answers in responses.values() for text in answers.values())
    estimate = budget.expected_tokens(
        items, len(models), int(ecfg.num_judges), ecfg.mode, None, longest, judge_budget
    )
    rows = []
    for part, numbers in estimate.items():
        if part == "responses":
            continue
        priced = judge.price_model is not None
        cost = (
            expected_cost(judge.price_model, numbers["prompt_tokens"], numbers["completion_tokens"])
            if priced
            else 0.0
        )
        rows.append(
            {
                "part": part,
                **numbers,
                "api_calls": numbers["calls"] if priced else 0,
                "expected_cost_usd": cost,
            }
        )
    formulas = (
        f"Q = {len(items)} questions, M = {len(models)} models, J = {ecfg.num_judges} judges: pairwise = "
        "Q·M(M−1)/2·2 orders·J; listwise = Q·J. Judge prompts are sized with the longest response; completions "
        "use their whole budget (4 characters per token); cost is litellm's bundled price (None = unknown)."
    )
    table = markdown_table(rows)
    print(f"evaluate.dry_run: nothing sent.\n{formulas}\n{table}")
    run.metrics.update(dry_run=True, estimate=rows)
    run.section("Evaluation dry run", f"{formulas}\n\n{table}")


def _win_plot(run: Run, prefs: list[dict[str, Any]], models: list[str]) -> str:
    wins = {m: 0.0 for m in models}
    games = {m: 0 for m in models}
    for row in prefs:
        decided = row["wins_i"] + row["wins_j"] + row["ties"]
        wins[row["model_i"]] += row["wins_i"] + row["ties"] / 2
        wins[row["model_j"]] += row["wins_j"] + row["ties"] / 2
        games[row["model_i"]] += decided
        games[row["model_j"]] += decided
    fig = new_figure(6, 3.5)
    axis = fig.add_subplot()
    axis.bar(models, [wins[m] / games[m] if games[m] else 0.0 for m in models])
    axis.set_ylabel("pairwise win share (ties = ½)")
    axis.set_ylim(0, 1)
    return save_figure(run, "win_share.png", fig)


def run(ecfg: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    if ecfg.mode not in MODES:
        raise ConfigError(f"evaluate.mode={ecfg.mode!r}; choose one of {list(MODES)}")
    items, specs, responses = load_response_set(inputs.responses_dir)
    run.record_input(inputs.responses_dir)
    run.seeds["evaluate.seed"] = int(ecfg.seed)
    models = [spec.name for spec in specs]
    num_judges = int(ecfg.num_judges)

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    judge = judge_role(OmegaConf.to_container(env.judge), base_model)
    if ecfg.dry_run:
        _dry_run(ecfg, env.judge, run, items, models, responses, judge)
        return Outputs.in_folder(run.dir)

    call_cache = CallCache(Path(ecfg.cache_dir) / "calls.jsonl")
    usage: list[dict[str, Any]] = []
    by_part: dict[str, list[CallResult]] = {}
    sections: list[tuple[str, str]] = []
    judgement_counts: list[dict[str, Any]] = []
    call_counts = {k: v for k, v in budget.call_counts(len(items), len(specs), num_judges, ecfg.mode).items()
                   if k != "responses"}  # fmt: skip
    metrics: dict[str, Any] = {"questions": len(items), "models": models, "num_judges": num_judges,
                               "call_counts": call_counts}  # fmt: skip
    if ecfg.mode in ("pairwise", "both"):
        pairwise = pairwise_jobs(items, models, responses, num_judges, judge.identity)
        calls = [job.call for job in pairwise]
        results = _judge(calls, judge, call_cache, accept_pairwise, "pairwise")
        rows = pairwise_rows(pairwise, results, responses)
        prefs = preferences(rows, models)
        run.write_jsonl("pairwise.jsonl", rows)
        run.write_jsonl("preferences.jsonl", prefs)
        usage += usage_rows("pairwise", calls, results)
        by_part["pairwise"] = results
        effects = order_effects(rows)
        invalid = sum(row["invalid"] for row in rows)
        metrics.update(pairwise_judgements=len(calls), pairwise_invalid=invalid, **effects)
        judgement_counts.append(
            {"mode": "pairwise", "judgements": len(calls), "valid": len(calls) - invalid, "invalid": invalid,
             "order pairs compared": effects["order_pairs_compared"], "flipped by order": effects["order_flips"],
             "flip rate": effects["flip_rate"], "first shown wins": effects["first_shown_wins"]}
        )  # fmt: skip
        sections.append((
            "Pairwise preferences",
            "Summed over questions, both presentation orders and all judges; invalid judgements are listed, "
            f"never counted as a win, loss or tie.\n\n{markdown_table(prefs)}\n{_win_plot(run, prefs, models)}",
        ))  # fmt: skip
    if ecfg.mode in ("listwise", "both"):
        listwise = listwise_jobs(items, models, responses, num_judges, judge.identity, int(ecfg.seed))
        calls = [job.call for job in listwise]
        results = _judge(
            calls, judge, call_cache, lambda text: parse_ranking(text, len(models)) is not None, "listwise"
        )
        rows = listwise_rows(listwise, results, models, responses)
        run.write_jsonl("listwise.jsonl", rows)
        usage += usage_rows("listwise", calls, results)
        by_part["listwise"] = results
        invalid = sum(row["invalid"] for row in rows)
        metrics.update(listwise_judgements=len(calls), listwise_invalid=invalid)
        judgement_counts.append({"mode": "listwise", "judgements": len(calls), "valid": len(calls) - invalid,
                                 "invalid": invalid})  # fmt: skip
        sections.append((
            "Listwise rankings",
            "Each judge saw the responses in its own shuffled order; rank 1 = best, averaged over valid "
            f"rankings.\n\n{markdown_table(listwise_summary(rows, models))}",
        ))  # fmt: skip

    run.write_jsonl("usage.jsonl", usage)
    metrics["usage"] = [{"part": part, **usage_summary(results)} for part, results in by_part.items()]
    run.metrics.update(metrics)
    counts = [{"calls": part, "formula": COUNT_FORMULAS[part], "count": n} for part, n in call_counts.items()]
    run.section(
        "Evaluation",
        f"Judge `{judge.identity.name}` ({env.judge.backend}); Q = {len(items)} questions, M = {len(models)} "
        f"models ({', '.join(models)}) from `{inputs.responses_dir}`, J = {num_judges} judges per item.\n\n"
        f"{markdown_table(counts)}",
    )
    run.section(
        "Judgements",
        "valid + invalid = judgements; invalid = unparseable after retries, or failed (raw text kept in the "
        "jsonl). Pairwise: a flip is one judge's verdict changing with the presentation order; first shown "
        "wins = share of decisive verdicts won by the response shown first (0.5 = no position bias).\n\n"
        f"{markdown_table(judgement_counts, JUDGEMENT_COLUMNS)}",
    )
    for title, body in sections:
        run.section(title, body)
    run.section("Tokens and cost", usage_section(metrics["usage"]))
    return Outputs.in_folder(run.dir)
