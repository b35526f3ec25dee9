"""Does distilling a teacher's reasoning (DART) make a model's answers more harmful, and does repair undo it?

Seed 004: distill from a teacher, audit harm drift against the baseline with severity, repair with
severity weights, and test significance.

    demalign recipe=dart                                            # offline: tiny model, template teacher, profanity_check
    demalign recipe=dart trainer=dart_lora model=llama3_1_8b teacher=litellm teacher.model=deepseek/deepseek-chat \
        teacher.api_key_env=DEEPSEEK_API_KEY audit.judge.mode=validate audit.judge.model=deepseek/deepseek-chat \
        audit.judge.api_key_env=DEEPSEEK_API_KEY 'audit.scorers=[{metric: hate, kind: hf_classifier, \
        model_id: facebook/roberta-hate-speech-dynabench-r4-target, harmful_label: hate}]' audit.primary_metric=hate
    # the CAI safety classifier as the audit's scorer: train it once, hand its checkpoint to every audit
    demalign stage=classify                                         # -> <classify run>/checkpoint
    demalign recipe=dart 'audit.scorers=[{metric: unsafe, kind: safety_classifier, \
        checkpoint: <classify run>/checkpoint}, {metric: profanity, kind: profanity_check}]' audit.primary_metric=unsafe

Steps (the paper's nine): distill (teacher targets for the training tasks) -> sft (DART) -> audit
(paired inference M0 vs DART, harm drift, pool, significance) -> then per repair round: repair
(safe targets for the pool, severity weights after de-duplication) -> sft (DART-H, continuing DART's
adapter, or its full checkpoint) -> audit (M0 vs DART-H). Rounds stop when the pool is empty or
after `recipe.max_repair_rounds`; the report's headline shows accuracy and drift counts per round.
As in the paper, the repair pool comes from the audited test tasks, so a later audit sees tasks
whose repairs were trained on: read its numbers as in-sample for the pooled cases.

    <run>/distill/dataset.jsonl  <run>/dart/sft/checkpoint/  <run>/dart/audit/summary.json
    <run>/round1/repair/dataset.jsonl  <run>/round1/sft/checkpoint/  <run>/round1/audit/significance.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from demalign.errors import ConfigError
from demalign.llm.specs import ModelSpec
from demalign.recipes.context import RecipeContext
from demalign.stages import audit, distill, repair, sft


def spec_entry(spec: ModelSpec) -> dict[str, Any]:
    return {"name": spec.name, "kind": spec.kind, "path": spec.path}


def continue_from(ctx: RecipeContext, checkpoint: Path) -> tuple[dict[str, Any], DictConfig]:
    """sft options and env that continue training `checkpoint`: its LoRA adapter (sft.init_adapter), or
    a full fine-tune loaded as the model (model.source=hub, name_or_path=checkpoint)."""
    if (checkpoint / "adapter_config.json").is_file():
        return {"init_adapter": str(checkpoint)}, ctx.env(sft)
    return {}, ctx.env(sft, model={"source": "hub", "name_or_path": str(checkpoint)})


def run(ctx: RecipeContext, opts: DictConfig) -> None:
    rounds = int(opts.max_repair_rounds)
    if rounds < 0:
        raise ConfigError(f"recipe.max_repair_rounds={rounds}: give 0 (no repair) or more")
    if "beta" in ctx.cfg.trainer:
        raise ConfigError(
            "recipe=dart trains with SFT, but the trainer group is a DPO option; add trainer=sft_tiny (offline), "
            "trainer=dart_lora (the paper's LoRA settings) or trainer=sft | sft_lora"
        )
    ctx.plan(3 + 3 * rounds)
    distilled = ctx.stage(distill, ctx.options("distill"), distill.Inputs(), folder="distill")
    if ctx.options("distill").dry_run:
        return  # a dry run writes no targets: nothing to train on
    trained = ctx.stage(sft, ctx.options("sft"), sft.Inputs(distilled.dataset), folder="dart/sft")
    baseline = ModelSpec(str(opts.baseline_name), "local", None)
    tuned = ModelSpec(str(opts.tuned_name), "local", str(trained.checkpoint))
    checkpoint = trained.checkpoint
    table: list[dict[str, Any]] = []

    for index in range(rounds + 1):
        folder = f"round{index}" if index else "dart"
        audited = ctx.stage(
            audit, ctx.options("audit", models=[spec_entry(baseline), spec_entry(tuned)]),
            audit.Inputs(baseline, tuned), folder=f"{folder}/audit",
        )  # fmt: skip
        table.append(round_row(index, audited.summary))
        if index == rounds or table[-1]["pool"] == 0:
            break
        repaired = ctx.stage(
            repair, ctx.options("repair", pool=str(audited.pool), distilled=str(distilled.targets)),
            repair.Inputs(audited.pool, distilled.targets), folder=f"round{index + 1}/repair",
        )  # fmt: skip
        changes, env = continue_from(ctx, checkpoint)
        retrained = ctx.stage(
            sft,
            ctx.options("sft", **changes),
            sft.Inputs(repaired.dataset),
            folder=f"round{index + 1}/sft",
            env=env,
        )
        checkpoint = retrained.checkpoint
        tuned = ModelSpec(f"{opts.tuned_name}_H{index + 1}", "local", str(checkpoint))
    ctx.run.metrics["rounds"] = table
    ctx.headline("DART: accuracy and harm drift per round (baseline vs tuned)", rounds_text(table))


def round_row(index: int, summary_path: Path) -> dict[str, Any]:
    import json

    summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    a, b = summary["baseline"], summary["tuned"]
    significance = summary["significance"]
    return {
        "round": index, "model": b, "accuracy_a": summary["metrics"][a]["accuracy"], "accuracy_b": summary["metrics"][b]["accuracy"],
        "macro_f1_b": summary["metrics"][b]["macro_f1"], "abstain_b": summary["abstain"][b],
        "mcnemar_p": significance["mcnemar"]["p_value"], "drift_cases": summary["drift_cases"], "pool": summary["pool"],
        "delta_accuracy_ci": [significance["bootstrap_delta_accuracy"][k] for k in ("ci_low", "ci_high")],
        "pool_by_severity": summary["pool_by_severity"], "harm_wilcoxon_p": significance["wilcoxon_harm"]["p_value"],
        "judge": summary["judge_status"],
    }  # fmt: skip


def rounds_text(rows: list[dict[str, Any]]) -> str:
    def num(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"{'round':>5}  {'model':<10} {'acc M0':>7} {'acc':>7} {'Δacc 95% CI':>16} {'McNemar p':>9} "
        f"{'drift':>5} {'harm p':>7} {'pool':>4}  pool by severity"
    ]
    for r in rows:
        levels = ", ".join(f"{k} {v}" for k, v in r["pool_by_severity"].items() if k != "none" and v)
        interval = f"[{num(r['delta_accuracy_ci'][0])}, {num(r['delta_accuracy_ci'][1])}]"
        lines.append(f"{r['round']:>5}  {r['model']:<10} {num(r['accuracy_a']):>7} {num(r['accuracy_b']):>7} "
                     f"{interval:>16} {num(r['mcnemar_p']):>9} {r['drift_cases']:>5} {num(r['harm_wilcoxon_p']):>7} "
                     f"{r['pool']:>4}  {levels or '-'}")  # fmt: skip
    lines.append("drift = tuned harm > baseline harm on the primary view and metric; harm p = Wilcoxon signed-rank on "
                 "the paired harm scores; pool = cases sent to repair")  # fmt: skip
    return "\n".join(lines)
