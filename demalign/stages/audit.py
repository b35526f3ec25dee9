"""Paired audit of harm drift, baseline (M0) vs tuned model: decisions, harm Δ severity, judge, pool, significance.

The baseline and the tuned model answer the test tasks; conclusions, decision metrics, harm scores per
view, Δ severity, optional LLM judge, regression pool, significance.

    demalign stage=audit 'audit.models=[{name: M0, kind: local, path: null}, {name: DART, kind: local, path: <sft run>/checkpoint}]'
    demalign stage=audit ... audit.judge.mode=validate audit.judge.model=deepseek/deepseek-chat audit.judge.api_key_env=DEEPSEEK_API_KEY
    demalign stage=audit ... 'audit.scorers=[{metric: hate, kind: hf_classifier, model_id: facebook/roberta-hate-speech-dynabench-r4-target, harmful_label: hate}]' audit.primary_metric=hate

Both models answer the test part of the `dart_tasks` split with the student prompt
(`generate_responses`, cached); an answer without a parseable `Conclusion: YES|NO` is an abstain.
Each scorer scores both views (`full_output`, `analysis_only`) of both answers; Δ = score(tuned) −
score(baseline); a drift case is Δ > 0 on the primary view and metric, and its severity follows
`audit.severity` (`demalign.dart.severity`). The judge modes (`demalign.dart.judge`) decide which
cases enter `regression_pool.jsonl`. Significance (`demalign.dart.significance`): exact McNemar
overall and per benchmark, paired bootstrap for Δaccuracy and Δmacro-F1, Wilcoxon signed-rank on the
paired harm scores. Every model and judge call goes through the call cache (a rerun repeats none).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.comparison import SEVERITY_LEVELS, SeverityThresholds
from demalign.dart import significance as sig
from demalign.dart.audit import (
    PairRow,
    classifier_levels,
    harm_overall,
    harm_slices,
    score_pairs,
    severity_counts,
)
from demalign.dart.judge import Decision, Verdict, decide, parse_verdict, verdict_accept
from demalign.dart.metrics import DECISION_COLUMNS, decision_metrics
from demalign.dart.scorers import SafetyClassifierScorer, ScoreCache, build_scorer
from demalign.dart.severity import Floors, SeverityRule
from demalign.dart.tasks import configured_split
from demalign.dart.teacher import student_messages
from demalign.errors import ConfigError, DataError
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy
from demalign.llm.execute import execute, usage_rows, usage_section, usage_summary
from demalign.llm.generation import PromptItem, generate_responses
from demalign.llm.roles import litellm_role
from demalign.llm.specs import ModelSpec, parse_model_specs
from demalign.llm.templates import load_template
from demalign.reports import markdown_table, new_figure, save_figure

log = logging.getLogger(__name__)

OPTIONS = "audit"
SHARED = ("model", "dart_tasks")


@dataclass(frozen=True)
class Inputs:
    baseline: ModelSpec  # model A (M0)
    tuned: ModelSpec  # model B (DART, DART-H)

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        specs = parse_model_specs(OmegaConf.to_container(opts.models), "audit.models")
        if len(specs) != 2:
            raise ConfigError(f"audit.models: give exactly [baseline, tuned], got {[s.name for s in specs]}")
        return cls(*specs)


@dataclass(frozen=True)
class Outputs:
    scored: Path
    summary: Path
    pool: Path  # regression_pool.jsonl

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        folder = Path(folder)
        return cls(folder / "scored.jsonl", folder / "summary.json", folder / "regression_pool.jsonl")


def severity_rule(node: DictConfig) -> SeverityRule:
    """The audit.severity group as a rule; bad thresholds are a ConfigError naming the group."""
    try:
        return _severity_rule(node)
    except ValueError as err:
        raise ConfigError(f"audit.severity: {err}") from None


def _severity_rule(node: DictConfig) -> SeverityRule:
    thresholds = SeverityThresholds(
        float(node.mild_delta), float(node.moderate), float(node.severe), float(node.extreme)
    )
    floors = node.floors
    return SeverityRule(
        thresholds,
        Floors(floors.mild, floors.moderate, floors.severe, floors.extreme) if floors.enabled else None,
    )


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    return buffer.getvalue()


def judge_verdicts(
    opts: DictConfig, pairs: list[PairRow], run: Run
) -> tuple[list[Verdict | None], bool, str, list[dict]]:
    """(verdict per pair, judged, status, usage rows). A judge that cannot start raises unless
    `audit.judge.on_unavailable=classifiers_only`, which audits with the classifiers alone (stated)."""
    node = opts.judge
    if node.mode == "none":
        return [None] * len(pairs), False, "off (classifiers only)", []
    template = load_template("dart_judge")
    role = litellm_role(OmegaConf.to_container(node), "audit.judge")
    policy = CallPolicy(**{**role.policy.__dict__, "invalid_retries": int(node.invalid_retries)})
    calls = [
        role.identity.call(template.messages(
            question=p.task.question, label=p.task.label, a_text=p.a_text, b_text=p.b_text,
            a_conclusion=p.a_conclusion or "none (abstain)", b_conclusion=p.b_conclusion or "none (abstain)",
        ))
        for p in pairs
    ]  # fmt: skip
    reason = None
    try:
        results = execute(calls, lambda: role.backend, CallCache(Path(opts.cache_dir) / "calls.jsonl"), policy,
                          verdict_accept, desc="audit judge")  # fmt: skip
        if results and all(r.text is None for r in results):
            reason = f"every judge call failed (first error: {results[0].error})"
    except Exception as err:  # a backend that cannot be built (missing key, unknown provider)
        results, reason = [], f"{type(err).__name__}: {err}"
    if reason is not None:
        if node.on_unavailable != "classifiers_only":
            raise ConfigError(
                f"audit.judge (mode {node.mode}, model {node.model}) could not start: {reason}. Fix the judge, or set "
                "audit.judge.on_unavailable=classifiers_only to audit with the classifiers only (stated in the report)."
            )
        log.error("audit judge unavailable, continuing with the classifiers only: %s", reason)
        return [None] * len(pairs), False, f"UNAVAILABLE, classifiers only: {reason}", []
    verdicts = [parse_verdict(r.text) for r in results]
    return verdicts, True, f"{node.mode} ({role.identity.name})", usage_rows("judge", calls, results)


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    _, test, source = configured_split(env.dart_tasks)
    run.record_input(source)
    for spec in (inputs.baseline, inputs.tuned):
        if spec.path:
            run.record_input(spec.path)
    run.seeds["audit.seed"] = int(opts.seed)
    rule = severity_rule(opts.severity)
    scorers = [
        build_scorer(OmegaConf.to_container(node), f"audit.scorers[{i}]")
        for i, node in enumerate(opts.scorers)
    ]
    for scorer in scorers:
        if isinstance(scorer, SafetyClassifierScorer):
            run.record_input(scorer.checkpoint)  # the manifest pins the classifier the harm was read with
    metrics = [s.metric for s in scorers]
    if opts.primary_metric not in metrics:
        raise ConfigError(
            f"audit.primary_metric={opts.primary_metric!r} is not a scorer metric; audit.scorers give {metrics}"
        )

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    prompts = [PromptItem(task.id, student_messages(task.question)) for task in test]
    a, b = inputs.baseline.name, inputs.tuned.name
    generated = generate_responses(
        [inputs.baseline, inputs.tuned], prompts, opts, opts.api, OmegaConf.to_container(env.model), base_model,
        CallCache(Path(opts.cache_dir) / "calls.jsonl"),
    )  # fmt: skip
    failed = generated.failures()
    if failed:
        raise DataError(
            f"audit: {len(failed)} answers failed after all retries ({failed[:5]} ...); rerun to retry them"
        )
    answers_a, answers_b = generated.single(a), generated.single(b)
    pairs = [PairRow(t, answers_a[t.id] or "", answers_b[t.id] or "") for t in test]

    scores = score_pairs(pairs, scorers, ScoreCache(Path(opts.cache_dir) / "harm_scores.jsonl"))
    primary = scores[str(opts.primary_view)][str(opts.primary_metric)]
    levels = classifier_levels(primary, rule)
    verdicts, judged, judge_status, judge_usage = judge_verdicts(opts, pairs, run)
    decisions: list[Decision] = [
        decide(str(opts.judge.mode), lv, v, str(opts.min_severity), judged)
        for lv, v in zip(levels, verdicts, strict=True)
    ]

    scored = []
    for i, (pair, level, verdict, decision) in enumerate(
        zip(pairs, levels, verdicts, decisions, strict=True)
    ):
        delta = primary[i][1] - primary[i][0]
        scored.append({
            **pair.task.as_record(), "a_model": a, "b_model": b, "a_text": pair.a_text, "b_text": pair.b_text,
            "a_conclusion": pair.a_conclusion, "b_conclusion": pair.b_conclusion,
            "a_correct": pair.a_conclusion == pair.task.label, "b_correct": pair.b_conclusion == pair.task.label,
            "scores": {view: {m: {"a": s[i][0], "b": s[i][1], "delta": s[i][1] - s[i][0]} for m, s in by.items()} for view, by in scores.items()},
            "primary_delta": delta, "drift": delta > 0, "classifier_severity": level,
            "judge": verdict.as_record() if verdict else None, "judge_valid": verdict is not None if judged else None,
            "status": decision.status, "in_pool": decision.in_pool, "severity": decision.severity,
        })  # fmt: skip
    outputs = Outputs.in_folder(run.dir)
    run.write_jsonl(outputs.scored.name, scored)
    pool = [
        {key: row[key] for key in ("id", "question", "label", "benchmark", "condition", "severity", "status", "primary_delta",
                                   "classifier_severity", "a_text", "b_text", "a_conclusion", "b_conclusion", "judge")}
        for row in scored if row["in_pool"]
    ]  # fmt: skip
    run.write_jsonl(outputs.pool.name, pool)
    top = sorted((r for r in scored if r["drift"]), key=lambda r: -r["primary_delta"])[: int(opts.top_k)]
    run.write_jsonl("top_regressions.jsonl", top)

    gold = [p.task.label for p in pairs]
    decision_rows = []
    for name, preds in ((a, [p.a_conclusion for p in pairs]), (b, [p.b_conclusion for p in pairs])):
        decision_rows.append({"model": name, "benchmark": "all", **decision_metrics(gold, preds)})
        for bench in sorted({p.task.benchmark for p in pairs}):
            idx = [i for i, p in enumerate(pairs) if p.task.benchmark == bench]
            decision_rows.append(
                {
                    "model": name,
                    "benchmark": bench,
                    **decision_metrics([gold[i] for i in idx], [preds[i] for i in idx]),
                }
            )
    run.write_text("decision_metrics.csv", _csv(decision_rows))
    overall = harm_overall(scores)
    run.write_text("harm_overall.csv", _csv(overall))
    run.write_text("harm_slices.csv", _csv(harm_slices(pairs, primary, int(opts.slice_min_n))))

    paired = sig.PairedDecisions(gold, [p.a_conclusion for p in pairs], [p.b_conclusion for p in pairs],
                                 [p.task.benchmark for p in pairs], [x for x, _ in primary], [y for _, y in primary])  # fmt: skip
    significance = sig.significance(paired, n_resamples=int(opts.significance.n_resamples), seed=int(opts.significance.seed),
                                    level=float(opts.significance.level))  # fmt: skip
    table_rows = sig.significance_rows(significance)
    run.write_json("significance.json", significance)
    run.write_text(
        "significance.md",
        markdown_table(table_rows) + "\n" + "\n".join(sig.summary_lines(significance)) + "\n",
    )
    run.write_text(
        "significance.tex", sig.latex_table(table_rows, f"{a} vs {b}: accuracy and exact McNemar test")
    )
    if judge_usage:
        run.write_jsonl("usage.jsonl", judge_usage)

    statuses: dict[str, int] = {}
    for d in decisions:
        statuses[d.status] = statuses.get(d.status, 0) + 1
    summary = {
        "baseline": a, "tuned": b, "n": len(pairs), "primary_view": str(opts.primary_view), "primary_metric": str(opts.primary_metric),
        "severity_rule": rule.as_record(), "min_severity": str(opts.min_severity), "judge_mode": str(opts.judge.mode),
        "judge_status": judge_status, "judge_invalid": sum(d.status == "judge_invalid" for d in decisions) if judged else None,
        "drift_cases": sum(r["drift"] for r in scored), "classifier_severity": severity_counts(levels),
        "pool": len(pool), "pool_by_severity": severity_counts([r["severity"] for r in pool]), "decisions": statuses,
        "abstain": {a: sum(p.a_conclusion is None for p in pairs), b: sum(p.b_conclusion is None for p in pairs)},
        "metrics": {a: decision_rows[0], b: next(r for r in decision_rows if r["model"] == b and r["benchmark"] == "all")},
        "significance": significance,
    }  # fmt: skip
    run.write_json(outputs.summary.name, summary)
    run.metrics.update({k: v for k, v in summary.items() if k not in ("significance", "severity_rule")},
                       mcnemar_p=significance["mcnemar"]["p_value"], wilcoxon_harm_p=significance["wilcoxon_harm"]["p_value"])  # fmt: skip
    _report(
        run, opts, summary, decision_rows, overall, table_rows, significance, scored, rule, source, generated
    )
    return outputs


def _report(run: Run, opts: DictConfig, summary: dict, decision_rows: list, overall: list, table_rows: list,
            significance: dict, scored: list, rule: SeverityRule, source: Path, generated: Any) -> None:  # fmt: skip
    a, b = summary["baseline"], summary["tuned"]
    run.section(
        "Decisions",
        f"{a} (baseline) and {b} answered {summary['n']} test tasks of `{source}`; unparseable conclusion = abstain "
        f"({summary['abstain'][a]} for {a}, {summary['abstain'][b]} for {b}), counted as wrong.\n\n"
        + markdown_table([r for r in decision_rows if r["benchmark"] == "all"], ["model", *DECISION_COLUMNS]),
    )
    counts = summary["classifier_severity"]
    run.section(
        "Harm drift",
        f"Δ = score({b}) − score({a}); primary view `{summary['primary_view']}`, metric `{summary['primary_metric']}`. "
        f"Drift cases (Δ > 0): {summary['drift_cases']}; classifier severity (mild Δ > {rule.thresholds.mild}, moderate ≥ "
        f"{rule.thresholds.moderate}, severe ≥ {rule.thresholds.severe}, extreme ≥ {rule.thresholds.extreme}; floors "
        f"{'on' if rule.floors else 'off'}): {counts}.\n\nJudge: {summary['judge_status']}. Decisions: {summary['decisions']}. "
        f"Regression pool (severity ≥ {summary['min_severity']}): {summary['pool']} cases {summary['pool_by_severity']}.\n\n"
        + markdown_table(
            [
                {
                    k: r[k]
                    for k in (
                        "view",
                        "metric",
                        "n",
                        "mean_a",
                        "mean_b",
                        "mean_delta",
                        "drift_cases",
                        "wilcoxon_p",
                    )
                }
                for r in overall
            ]
        )
        + "\n"
        + _delta_plot(run, scored),
    )
    run.section("Significance", markdown_table(table_rows) + "\n" + "\n".join(f"- {line}" for line in sig.summary_lines(significance))
                + "\n\nLaTeX: `significance.tex`.")  # fmt: skip
    usage = usage_summary([r for results in generated.results.values() for r in results])
    run.section("Tokens and cost", usage_section([{"part": "answers", **usage}]))


def _delta_plot(run: Run, scored: list[dict]) -> str:
    """Δ of the primary view and metric per classifier severity (strip plot; none = Δ ≤ mild)."""
    fig = new_figure(6.5, 3.4)
    axis = fig.add_subplot()
    for x, level in enumerate(SEVERITY_LEVELS):
        values = [r["primary_delta"] for r in scored if r["classifier_severity"] == level]
        axis.scatter(
            [x + (i % 7 - 3) * 0.03 for i in range(len(values))],
            values,
            s=12,
            alpha=0.7,
            label=f"{level} ({len(values)})",
        )
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set_xticks(range(len(SEVERITY_LEVELS)), SEVERITY_LEVELS)
    axis.set_ylabel("Δ harm (tuned − baseline)")
    axis.legend(fontsize=7, loc="upper left")
    return save_figure(run, "delta_by_severity.png", fig)
