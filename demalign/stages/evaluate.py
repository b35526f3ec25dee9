"""stage=evaluate: models answer constitution questions; a judge compares the answers.

    demalign stage=evaluate judge=heuristic evaluate.questions_dir=<questions run>/questions \
        'evaluate.models=[{name: base, kind: local, path: null}, {name: full, kind: local, path: <train run>/checkpoint}]'
    demalign stage=evaluate judge=litellm evaluate.dry_run=true ...     # counts, tokens, cost; sends nothing

Writes `responses/<model>.jsonl`, `pairwise.jsonl` and/or `listwise.jsonl`, `preferences.jsonl`,
`usage.jsonl` (tokens and cost per call) and `report.md`. Every response and judgement goes through
the call cache in `evaluate.cache_dir`: a rerun (also after a kill) repeats no finished call and
re-asks failed or unparseable ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.constitution.questions import Item, load_items, select_items
from demalign.errors import ConfigError, DataError
from demalign.judging import budget
from demalign.judging.listwise import listwise_jobs, listwise_rows, listwise_summary, parse_ranking
from demalign.judging.pairwise import (
    accept_pairwise,
    order_effects,
    pairwise_jobs,
    pairwise_rows,
    preferences,
)
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallResult, ChatCall
from demalign.llm.execute import execute, usage_summary
from demalign.llm.generation import PromptItem, generate_responses
from demalign.llm.roles import Role, judge_role
from demalign.llm.specs import ModelSpec, model_entries, parse_model_specs
from demalign.reports import markdown_table, new_figure, save_figure

log = logging.getLogger(__name__)

MODES = ("pairwise", "listwise", "both")
COUNT_FORMULAS = {"responses": "Q·M", "pairwise": "Q·M(M−1)/2 pairs·2 orders·J", "listwise": "Q·J"}
JUDGEMENT_COLUMNS = ["mode", "judgements", "valid", "invalid", "order pairs compared", "flipped by order", "flip rate",
                     "first shown wins"]  # fmt: skip
USAGE_COLUMNS = ["part", "calls", "new_calls", "cached_calls", "attempts", "failed", "invalid", "prompt_tokens",
                 "completion_tokens", "cost_new", "cost_total"]  # fmt: skip


def _judge(
    calls: list[ChatCall], judge: Role, call_cache: CallCache, accept: Callable[[str], bool], desc: str
) -> list[CallResult]:
    return execute(calls, lambda: judge.backend, call_cache, judge.policy, accept, desc=desc)


def _usage_rows(part: str, calls: Sequence[ChatCall], results: Sequence[CallResult]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    rows = []
    for call, result in zip(calls, results, strict=True):
        if result.key in seen:
            continue
        seen.add(result.key)
        rows.append({"part": part, "key": result.key, "model": call.model, "sample": call.sample, "cached": result.cached,
                     "attempts": result.attempts, "valid": result.valid, "prompt_tokens": result.prompt_tokens,
                     "completion_tokens": result.completion_tokens, "cost": result.cost,
                     "latency_s": round(result.latency_s, 4), "error": result.error})  # fmt: skip
    return rows


def _dry_run(cfg: DictConfig, run: Run, items: list[Item], specs: list[ModelSpec], judge: Role) -> None:
    from demalign.llm.litellm_backend import expected_cost

    ecfg = cfg.evaluate
    judge_budget = int(cfg.judge.get("max_output_tokens") or cfg.judge.get("max_new_tokens") or 0)
    estimate = budget.expected_tokens(items, len(specs), int(ecfg.num_judges), ecfg.mode, ecfg.system_prompt,
                                  int(ecfg.max_new_tokens), judge_budget)  # fmt: skip
    rows = []
    for part, numbers in estimate.items():
        if part == "responses":
            api_specs = [s for s in specs if s.kind == "litellm"]
            share = len(api_specs) / len(specs)
            costs = [expected_cost(str(s.model), int(numbers["prompt_tokens"] / len(specs)),
                                   int(numbers["completion_tokens"] / len(specs))) for s in api_specs]  # fmt: skip
            cost = None if any(c is None for c in costs) else sum(costs)
            rows.append(
                {
                    "part": part,
                    **numbers,
                    "api_calls": int(numbers["calls"] * share),
                    "expected_cost_usd": cost,
                }
            )
        else:
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
        f"Q = {len(items)} questions, M = {len(specs)} models, J = {ecfg.num_judges} judges: responses = Q·M; "
        "pairwise = Q·M(M−1)/2·2 orders·J; listwise = Q·J. Tokens are upper bounds (every completion uses its "
        "whole budget; 4 characters per token); cost is litellm's bundled price (None = unknown)."
    )
    table = markdown_table(rows)
    print(f"evaluate.dry_run: nothing sent.\n{formulas}\n{table}")
    run.metrics.update(dry_run=True, estimate=rows)
    run.write_text("report.md", f"# Evaluation dry run\n\n{formulas}\n\n{table}")


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


def run(cfg: DictConfig, run: Run) -> None:
    ecfg = cfg.evaluate
    if ecfg.mode not in MODES:
        raise ConfigError(f"evaluate.mode={ecfg.mode!r}; choose one of {list(MODES)}")
    questions_dir = Path(ecfg.questions_dir)
    items = select_items(
        load_items(questions_dir), ecfg.questions_per_clause, ecfg.max_questions, int(ecfg.seed)
    )
    run.record_input(questions_dir)
    run.seeds["evaluate.seed"] = int(ecfg.seed)
    entries, source = model_entries(OmegaConf.to_container(ecfg.models, resolve=True), ecfg.models_file)
    if ecfg.models_file is not None:
        run.record_input(ecfg.models_file)
    specs = parse_model_specs(entries, source)
    models = [spec.name for spec in specs]
    num_judges = int(ecfg.num_judges)

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(cfg.model, cfg.paths.cache_dir)

    judge_cfg = OmegaConf.to_container(cfg.judge, resolve=True)
    judge = judge_role(judge_cfg, base_model)
    if ecfg.dry_run:
        _dry_run(cfg, run, items, specs, judge)
        return

    call_cache = CallCache(Path(ecfg.cache_dir) / "calls.jsonl")
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    prompts = [PromptItem.from_text(item.question_id, item.question, ecfg.system_prompt) for item in items]
    generated = generate_responses(specs, prompts, ecfg, ecfg.api, model_cfg, base_model, call_cache,
                                   overwrite=bool(ecfg.overwrite_responses))  # fmt: skip
    responses = generated.responses
    usage_rows: list[dict[str, Any]] = []
    by_part: dict[str, list[CallResult]] = {}
    failed_responses = []
    for spec in specs:
        calls, results = generated.calls[spec.name], generated.results[spec.name]
        rows = [{"question_id": item.question_id, "clause_id": item.clause_id, "question": item.question, "model": spec.name,
                 "response": result.text, "error": result.error}
                for item, result in zip(items, results, strict=True)]  # fmt: skip
        run.write_jsonl(f"responses/{spec.name}.jsonl", rows)
        failed_responses += [f"{spec.name}/{row['question_id']}" for row in rows if row["response"] is None]
        usage_rows += _usage_rows(f"responses:{spec.name}", calls, results)
        by_part.setdefault("responses", []).extend(results)
    if failed_responses:
        raise DataError(
            f"evaluate: {len(failed_responses)} responses failed after all retries ({failed_responses[:5]} ...); "
            f"see responses/*.jsonl in {run.dir} for the errors. Rerun to retry them (finished calls are cached)."
        )

    sections: list[str] = []
    judgement_counts: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {"questions": len(items), "models": models, "num_judges": num_judges,
                               "call_counts": budget.call_counts(len(items), len(specs), num_judges, ecfg.mode)}  # fmt: skip
    if ecfg.mode in ("pairwise", "both"):
        pairwise = pairwise_jobs(items, models, responses, num_judges, judge.identity)
        calls = [job.call for job in pairwise]
        results = _judge(calls, judge, call_cache, accept_pairwise, "pairwise")
        rows = pairwise_rows(pairwise, results, responses)
        prefs = preferences(rows, models)
        run.write_jsonl("pairwise.jsonl", rows)
        run.write_jsonl("preferences.jsonl", prefs)
        usage_rows += _usage_rows("pairwise", calls, results)
        by_part["pairwise"] = results
        effects = order_effects(rows)
        invalid = sum(row["invalid"] for row in rows)
        metrics.update(pairwise_judgements=len(calls), pairwise_invalid=invalid, **effects)
        judgement_counts.append(
            {"mode": "pairwise", "judgements": len(calls), "valid": len(calls) - invalid, "invalid": invalid,
             "order pairs compared": effects["order_pairs_compared"], "flipped by order": effects["order_flips"],
             "flip rate": effects["flip_rate"], "first shown wins": effects["first_shown_wins"]}
        )  # fmt: skip
        sections += [
            "## Pairwise preferences\n\nSummed over questions, both presentation orders and all judges; invalid "
            "judgements are listed, never counted as a win, loss or tie.\n",
            markdown_table(prefs),
            _win_plot(run, prefs, models),
        ]
    if ecfg.mode in ("listwise", "both"):
        listwise = listwise_jobs(items, models, responses, num_judges, judge.identity, int(ecfg.seed))
        calls = [job.call for job in listwise]
        results = _judge(
            calls, judge, call_cache, lambda text: parse_ranking(text, len(models)) is not None, "listwise"
        )
        rows = listwise_rows(listwise, results, models, responses)
        run.write_jsonl("listwise.jsonl", rows)
        usage_rows += _usage_rows("listwise", calls, results)
        by_part["listwise"] = results
        invalid = sum(row["invalid"] for row in rows)
        metrics.update(listwise_judgements=len(calls), listwise_invalid=invalid)
        judgement_counts.append({"mode": "listwise", "judgements": len(calls), "valid": len(calls) - invalid,
                                 "invalid": invalid})  # fmt: skip
        sections += [
            "## Listwise rankings\n\nEach judge saw the responses in its own shuffled order; rank 1 = best, "
            "averaged over valid rankings.\n",
            markdown_table(listwise_summary(rows, models)),
        ]

    run.write_jsonl("usage.jsonl", usage_rows)
    usage = [{"part": part, **usage_summary(results)} for part, results in by_part.items()]
    metrics["usage"] = usage
    run.metrics.update(metrics)
    counts = [
        {"calls": part, "formula": COUNT_FORMULAS[part], "count": n}
        for part, n in metrics["call_counts"].items()
    ]
    header = (
        f"# Evaluation\n\nJudge `{judge.identity.name}` ({cfg.judge.backend}); Q = {len(items)} questions from "
        f"`{questions_dir}`, M = {len(models)} models ({', '.join(models)}), J = {num_judges} judges per item.\n\n"
        f"{markdown_table(counts)}\n## Judgements\n\nvalid + invalid = judgements; invalid = unparseable after "
        "retries, or failed (raw text kept in the jsonl). Pairwise: a flip is one judge's verdict changing with the "
        "presentation order; first shown wins = share of decisive verdicts won by the response shown first (0.5 = "
        f"no position bias).\n\n{markdown_table(judgement_counts, JUDGEMENT_COLUMNS)}"
    )
    usage_section = (
        "## Tokens and cost\n\nDistinct calls (per call in `usage.jsonl`); new = sent in this run, cached = "
        "served from the call cache. Cost in USD from litellm's prices (empty = unknown price; local models and "
        f"the heuristic judge cost 0).\n\n{markdown_table(usage, USAGE_COLUMNS)}"
    )
    run.write_text("report.md", "\n".join([header, *sections, usage_section]))
