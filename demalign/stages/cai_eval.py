"""Constitutional evaluation: models × principles (rules, optional LLM critic, classifier harm signal), paired tests, red-team safe shares.

    demalign stage=cai_eval 'cai_eval.models=[{name: base, kind: local, path: null}, {name: cai, kind: local, path: <ckpt>}]'
    demalign stage=cai_eval cai_eval.classifier=<classify run>/checkpoint cai_eval.llm_critic=true judge=litellm ...

Every model answers the `cai_eval.split` prompts of the prompts group (through the call cache, so
a rerun asks nothing again). Per answer and principle: the rule-based score
(`demalign.cai.evaluators`, documented patterns) and, with `llm_critic`, the judge group's 1-5
rubric score (invalid verdicts recorded, never scored); with a `classifier` checkpoint, its label
(exact names) is the harm signal. The model × principle table carries bootstrap intervals;
consecutive models in `cai_eval.models` are compared pairwise (`demalign.comparison`: paired
bootstrap of Δ, Wilcoxon; McNemar on the classifier's safe flags). Red team: the red-team
categories' prompts are also asked after a safety system prompt and behind a jailbreak prefix;
the share of safe answers per model and condition (safe = the classifier says exactly `safe`, or
without a classifier the harm-prevention rule score >= `rule_safe_threshold`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.cai.evaluators import (
    CONDITIONS,
    PRINCIPLE_RUBRICS,
    PRINCIPLES,
    condition_messages,
    mean_ci,
    principle_table,
    rule_verdicts,
    safe_shares,
)
from demalign.comparison import ComparisonOptions, compare, pair_items
from demalign.errors import ConfigError
from demalign.llm.cache import CallCache
from demalign.llm.execute import execute, usage_rows, usage_section, usage_summary
from demalign.llm.generation import PromptItem, generate_responses
from demalign.llm.specs import parse_model_specs
from demalign.reports import markdown_table

OPTIONS = "cai_eval"
SHARED = ("prompts", "model", "judge")
FILES = {"scores": "scores.jsonl", "red_team": "red_team.jsonl", "comparisons": "comparisons.json",
         "table": "principle_table.json"}  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    checkpoints: tuple[str, ...]  # local model folders named in cai_eval.models (hashed as inputs)
    classifier: Path | None  # stage=classify checkpoint; None = no classifier signal

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        paths = tuple(str(m["path"]) for m in opts.models if m.get("path"))
        return cls(paths, Path(opts.classifier) if opts.classifier else None)


@dataclass(frozen=True)
class Outputs:
    scores: Path  # one row per (model, prompt, principle): rule score, hits, critic score, classifier label
    red_team: Path  # one row per (model, red-team prompt, condition): answer, label, safe
    comparisons: Path  # paired reports between consecutive models
    table: Path  # model x principle means with bootstrap intervals

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(**{key: Path(folder) / name for key, name in FILES.items()})


def _prompts(opts: DictConfig, env: DictConfig, run: Run) -> list[Any]:
    from demalign.promptsets import configured_part

    rows, prompt_set = configured_part(env.prompts, str(opts.split), "cai_eval.split")
    for path in prompt_set.files:
        run.record_input(path)
    if opts.limit is not None:  # per category, in prompt-set order, so every category stays represented
        taken: dict[str, int] = {}
        kept = []
        for row in rows:
            if taken.get(row.category, 0) < int(opts.limit):
                kept.append(row)
                taken[row.category] = taken.get(row.category, 0) + 1
        rows = kept
    if not rows:
        raise ConfigError(f"cai_eval: no prompts in the {opts.split} part of {prompt_set.source}")
    return rows


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    specs = parse_model_specs(OmegaConf.to_container(opts.models), "cai_eval.models", at_least=2)
    names = [s.name for s in specs]
    principles = [str(p) for p in opts.principles]
    unknown = sorted(set(principles) - set(PRINCIPLES))
    if unknown:
        raise ConfigError(f"cai_eval.principles: unknown {unknown}; choose from {list(PRINCIPLES)}")
    for path in inputs.checkpoints:
        run.record_input(path)
    rows = _prompts(opts, env, run)
    red = [r for r in rows if r.category in {str(c) for c in opts.red_team_categories}]
    items = [PromptItem.from_text(r.id, r.prompt, opts.system_prompt) for r in rows]
    for row in red:  # "plain" is the answer above when no system prompt is set; otherwise asked on its own
        for condition in CONDITIONS:
            if condition != "plain" or opts.system_prompt:
                messages = condition_messages(row.prompt, condition, str(opts.safety_system_prompt),
                                              str(opts.jailbreak_prefix))  # fmt: skip
                items.append(PromptItem(f"{row.id}::{condition}", messages))

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    generation = {"max_new_tokens": int(opts.max_new_tokens), "do_sample": bool(opts.do_sample),
                  "temperature": float(opts.temperature), "top_p": float(opts.top_p), "seed": int(opts.seed), "batch_size": int(opts.batch_size)}  # fmt: skip
    call_cache = CallCache(Path(opts.cache_dir) / "calls.jsonl")
    answers = generate_responses(specs, items, generation, OmegaConf.to_container(opts.api), env.model, base_model,
                                 call_cache)  # fmt: skip
    usage = [{"part": f"answers {n}", **usage_summary(answers.results[n])} for n in names]
    answered = {name: answers.single(name) for name in names}

    def answer(model: str, prompt_id: str, condition: str) -> str | None:
        key = prompt_id if condition == "plain" and not opts.system_prompt else f"{prompt_id}::{condition}"
        return answered[model][key]

    labels: dict[tuple[str, str, str], str | None] = {}
    if inputs.classifier is not None:
        from demalign.cai.classifier import SafetyScorer

        scorer = SafetyScorer(run.record_input(inputs.classifier), batch_size=32)
        keys = [(m, r.id, c) for m in names for r in rows for c in CONDITIONS if c == "plain" or r in red]
        texts = [answer(*k) for k in keys]
        verdicts = iter(scorer.classify([t for t in texts if t is not None]))
        labels = {k: None if t is None else next(verdicts).label for k, t in zip(keys, texts, strict=True)}

    score_rows: list[dict[str, Any]] = []
    for model in names:
        for row in rows:
            response = answer(model, row.id, "plain")
            verdicts = rule_verdicts(row.prompt, response, principles) if response is not None else {}
            for principle in principles:
                score_rows.append({
                    "model": model, "prompt_id": row.id, "category": row.category, "prompt": row.prompt,
                    "principle": principle,
                    "response": response, "rule_score": verdicts[principle].score if verdicts else None,
                    "hits": verdicts[principle].hits if verdicts else None,
                    "classifier_label": labels.get((model, row.id, "plain")),
                })  # fmt: skip

    if opts.llm_critic:
        usage.append(_critic_scores(env, score_rows, base_model, call_cache))

    red_rows = []
    for model in names:
        for row in red:
            for condition in CONDITIONS:
                response = answer(model, row.id, condition)
                label = labels.get((model, row.id, condition))
                if response is None:
                    safe = None
                elif inputs.classifier is not None:
                    safe = label == "safe"  # exact label name, never a substring ("unsafe" is not safe)
                else:
                    safe = rule_verdicts(row.prompt, response, ["harm_prevention"])[
                        "harm_prevention"
                    ].score >= float(opts.rule_safe_threshold)
                red_rows.append({"model": model, "prompt_id": row.id, "condition": condition, "response": response,
                                 "classifier_label": label, "safe": safe})  # fmt: skip

    boot = {"n_resamples": int(opts.n_resamples), "level": float(opts.level), "seed": int(opts.seed)}
    table = principle_table(score_rows, names, principles, "rule_score", **boot)
    critic_table = (
        principle_table(score_rows, names, principles, "critic_score", **boot) if opts.llm_critic else []
    )
    harm = []
    if inputs.classifier is not None:
        for model in names:
            flags = [
                float(labels[(model, r.id, "plain")] == "safe")
                for r in rows
                if labels[(model, r.id, "plain")]
            ]
            harm.append({"model": model, "signal": "classifier safe share", **mean_ci(flags, **boot)})
    comparisons = _comparisons(
        score_rows, names, principles, opts, labels, rows, inputs.classifier is not None
    )
    shares = safe_shares(red_rows, names)

    run.write_jsonl(FILES["scores"], score_rows)
    run.write_jsonl(FILES["red_team"], red_rows)
    run.write_json(FILES["comparisons"], comparisons)
    run.write_jsonl(
        "usage.jsonl",
        [row for n in names for row in usage_rows(f"answers {n}", answers.calls[n], answers.results[n])],
    )
    run.write_json(FILES["table"], {"rules": table, "critic": critic_table, "classifier": harm})
    run.metrics.update(models=names, prompts=len(rows), red_team_prompts=len(red), table=table, critic_table=critic_table,
                       classifier=harm, red_team=shares, failures=answers.failures(),
                       comparisons=[{k: c[k] for k in ("a", "b", "signal", "delta_mean", "ci", "wilcoxon_p", "mcnemar_p",
                                                       "better")} for c in comparisons])  # fmt: skip
    _report(run, opts, names, rows, red, table, critic_table, harm, comparisons, shares, usage)
    return Outputs.in_folder(run.dir)


def _critic_scores(
    env: DictConfig, score_rows: list[dict[str, Any]], base_model: Any, call_cache: CallCache
) -> dict:
    """The judge group's critic scores each (answer, principle) 1-5 against the principle's rubric."""
    from demalign.judging.pointwise import (
        PointwiseTarget,
        ScoreScale,
        critique_accept,
        pointwise_jobs,
        pointwise_rows,
    )
    from demalign.llm.roles import judge_role

    critic = judge_role(OmegaConf.to_container(env.judge), base_model)
    scale = ScoreScale()
    scored = [r for r in score_rows if r["response"] is not None]
    targets = [PointwiseTarget(f"{r['model']}|{r['prompt_id']}", r["principle"], r["prompt"], r["response"],
                               PRINCIPLE_RUBRICS[r["principle"]]) for r in scored]  # fmt: skip
    jobs = pointwise_jobs(targets, critic.identity, 1, scale)
    results = execute([j.call for j in jobs], lambda: critic.backend, call_cache, critic.policy, critique_accept(scale),
                      desc="principle critic")  # fmt: skip
    for row, verdict in zip(scored, pointwise_rows(jobs, results, scale), strict=True):
        row["critic_score"], row["critic_valid"] = verdict["score"], verdict["valid"]
    for row in score_rows:
        row.setdefault("critic_score", None)
        row.setdefault("critic_valid", False)
    return {"part": "principle critic", **usage_summary(results)}


def _comparisons(
    score_rows: list[dict[str, Any]], names: list[str], principles: list[str], opts: DictConfig,
    labels: dict[tuple[str, str, str], str | None], prompts: list[Any], with_classifier: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """Paired reports between consecutive models: per principle (rule score, critic score) and the classifier's safe flag."""
    out = []
    signals = [("rule_score", p) for p in principles] + (
        [("critic_score", p) for p in principles] if opts.llm_critic else []
    )
    for a, b in itertools.pairwise(names):
        options = ComparisonOptions(label_a=a, label_b=b, n_resamples=int(opts.n_resamples), level=float(opts.level),
                                    seed=int(opts.seed))  # fmt: skip
        pending = []
        for key, principle in signals:
            side = {m: [{"id": r["prompt_id"], "score": r[key]} for r in score_rows
                        if r["model"] == m and r["principle"] == principle] for m in (a, b)}  # fmt: skip
            pending.append((f"{principle} ({key.split('_')[0]})", pair_items(side[a], side[b]), options))
        if with_classifier:
            side = {m: [{"id": p.id, "score": None if labels[(m, p.id, "plain")] is None
                         else float(labels[(m, p.id, "plain")] == "safe")} for p in prompts] for m in (a, b)}  # fmt: skip
            safe_options = ComparisonOptions(label_a=a, label_b=b, n_resamples=int(opts.n_resamples),
                                             level=float(opts.level), seed=int(opts.seed), safe_threshold=1.0)  # fmt: skip
            pending.append(("classifier safe", pair_items(side[a], side[b]), safe_options))
        for signal, items, o in pending:
            report = compare(items, o)
            out.append({
                "a": a, "b": b, "signal": signal, "delta_mean": report.delta.estimate,
                "ci": [report.delta.low, report.delta.high], "wilcoxon_p": report.wilcoxon.p_value,
                "mcnemar_p": None if report.mcnemar is None else report.mcnemar.p_value, "better": report.better,
                "verdict": report.verdict(), "report": report.as_record(),
            })  # fmt: skip
    return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _report(run: Run, opts: DictConfig, names: list[str], rows: list, red: list, table: list, critic_table: list,
            harm: list, comparisons: list, shares: list, usage: list) -> None:  # fmt: skip
    def cells(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"model": e["model"], "principle": e.get("principle", e.get("signal")), "n": e["n"],
                 "mean": _fmt(e["mean"]), f"{opts.level:.0%} CI": f"{_fmt(e['ci_low'])} to {_fmt(e['ci_high'])}"}
                for e in entries]  # fmt: skip

    run.section(
        "Principles",
        f"{len(names)} models ({', '.join(names)}) answered {len(rows)} prompts ({opts.split} split). Rule-based scores "
        "in [0, 1] (patterns in `demalign.cai.evaluators`); mean over prompts with a percentile bootstrap interval "
        f"({opts.n_resamples} resamples, seed {opts.seed}).\n\n" + markdown_table(cells(table))
        + (f"\nLLM critic (judge group, 1-5, invalid verdicts excluded):\n\n{markdown_table(cells(critic_table))}"
           if critic_table else "")
        + (f"\nClassifier harm signal (share answered exactly `safe`):\n\n{markdown_table(cells(harm))}" if harm else ""),
    )  # fmt: skip
    run.section(
        "Paired comparisons",
        "Each model against the one before it in `cai_eval.models`, on the same prompts (`demalign.comparison`: Δ = "
        "B − A with its paired bootstrap interval, Wilcoxon signed-rank p, McNemar p on safe flags).\n\n"
        + markdown_table([{"A": c["a"], "B": c["b"], "signal": c["signal"], "Δ mean": _fmt(c["delta_mean"]),
                           "CI": f"{_fmt(c['ci'][0])} to {_fmt(c['ci'][1])}", "Wilcoxon p": _fmt(c["wilcoxon_p"]),
                           "McNemar p": _fmt(c["mcnemar_p"]), "better": c["better"] or "-"} for c in comparisons]),
    )  # fmt: skip
    judge = (
        "the classifier's exact `safe` label"
        if harm
        else f"harm-prevention rule score >= {opts.rule_safe_threshold}"
    )
    run.section(
        "Red team",
        f"{len(red)} red-team prompts ({', '.join(map(str, opts.red_team_categories))}) asked plainly, after the safety "
        f"system prompt, and behind the jailbreak prefix; safe = {judge}.\n\n"
        + markdown_table(shares, ["model", *CONDITIONS]),
    )
    run.section(
        "Tokens and cost",
        usage_section(usage) + "\n(`usage.jsonl` lists the answer calls; critic calls are in the totals.)\n",
    )
