"""Constitutional AI (Bai et al. 2022) with DPO in place of PPO: does critique-and-revision training make a helpful model safer?

    demalign recipe=cai                                            # offline: tiny model, bundled prompts and principles
    demalign recipe=cai revise.rounds=4 revise.generator.kind=litellm revise.generator.model=<id> ...

The seed's four stages, top to bottom:

1. classify: the safety classifier (its checkpoint is the evaluation's harm signal);
2. helpful -> helpful_sft: a helpfulness set (`recipe.helpful_prompts`) answered by the base model, and
   the helpful-only baseline fine-tuned on it (`recipe.sft_trainer`);
3. revise: the helpful model answers the red-team prompts, critiques and revises its answers by
   sampled principles (SL-CAI) -> SFT rows and preference pairs from a seeded disjoint split;
   cai_sft: the base model fine-tuned on the revisions mixed with the helpfulness set (as in the
   paper and the public recipe); dpo: DPO from cai_sft on revision (chosen) vs initial answer
   (rejected), with the trainer group;
4. evaluate: base, helpful, cai_sft and cai_dpo answer the held-out prompts; rule-based and
   classifier scores per principle, paired tests between consecutive models, red-team safe shares.

    <run>/classify/checkpoint/   <run>/helpful/answers/helpful.jsonl   <run>/helpful/sft/checkpoint/
    <run>/revise/{chains,sft,prefs}.jsonl   <run>/cai/sft/checkpoint/   <run>/cai/dpo/checkpoint/
    <run>/evaluate/{scores,red_team}.jsonl, comparisons.json

Steps are labelled by their `recipe.stages` names in the report, on the console and in the metrics.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from demalign.config.schema import CaiStep
from demalign.errors import ConfigError
from demalign.recipes.context import RecipeContext
from demalign.recipes.steps import checked_steps
from demalign.stages import cai_eval, classify, helpful, inputs_from_config, revise, sft, train

STEPS = tuple(step.value for step in CaiStep)
NEEDS = {"helpful_sft": "helpful", "cai_sft": "revise", "dpo": "cai_sft"}


def local(name: str, path: Any) -> dict[str, Any]:
    return {"name": name, "kind": "local", "path": None if path is None else str(path), "model": None,
            "base_url": None, "api_key_env": None}  # fmt: skip


def run(ctx: RecipeContext, opts: DictConfig) -> None:
    steps = checked_steps(opts.stages, STEPS, NEEDS)
    ctx.plan(len(steps))
    sft_env = ctx.env(sft, trainer=opts.sft_trainer)
    models: list[dict[str, Any]] = [local(str(opts.base_model_name), None)]
    classifier = helpful_rows = revised = cai_sft = None

    if "classify" in steps:
        options = ctx.options("classify")
        classifier = ctx.stage(classify, options, inputs_from_config(classify, options, ctx.env(classify)),
                               folder="classify", label="classify")  # fmt: skip
    if "helpful" in steps:
        helpful_rows = ctx.stage(
            helpful, ctx.options("helpful"), helpful.Inputs(), folder="helpful/answers", label="helpful"
        ).rows
    if "helpful_sft" in steps:
        baseline = ctx.stage(
            sft,
            ctx.options("sft"),
            sft.Inputs(helpful_rows),
            folder="helpful/sft",
            label="helpful_sft",
            env=sft_env,
        )
        models.append(local("helpful", baseline.checkpoint))
    if "revise" in steps:
        changes: dict[str, Any] = {}
        configured = ctx.options("revise").generator
        if "helpful_sft" in steps and configured.kind == "local" and configured.path is None:
            # SL-CAI starts from the helpful model's answers; a generator set explicitly (an API model, a
            # checkpoint of your own) is kept
            changes["generator"] = local("helpful", baseline.checkpoint)
        options = ctx.options("revise", **changes)
        given = inputs_from_config(revise, options, ctx.env(revise))
        inputs = revise.Inputs(
            given.principles, helpful_rows if helpful_rows is not None else given.helpful_set
        )
        revised = ctx.stage(revise, options, inputs, folder="revise", label="revise")
    if "cai_sft" in steps:
        cai_sft = ctx.stage(
            sft, ctx.options("sft"), sft.Inputs(revised.sft), folder="cai/sft", label="cai_sft", env=sft_env
        )
        models.append(local("cai_sft", cai_sft.checkpoint))
    if "dpo" in steps:
        if not revised.prefs.read_text(encoding="utf-8").strip():
            raise ConfigError(
                f"recipe=cai: revise kept no preference pairs for DPO (why each chain was dropped: "
                f"{revised.dropped}); revise more prompts (revise.limit), lower revise.sft_share, or sample "
                "(revise.do_sample=true)"
            )
        start = {
            "source": "hub",
            "name_or_path": str(cai_sft.checkpoint),
        }  # DPO starts from (and refers to) cai_sft
        tuned = ctx.stage(train, ctx.options("train"), train.Inputs(revised.prefs), folder="cai/dpo", label="dpo",
                          env=ctx.env(train, model=start))  # fmt: skip
        models.append(local("cai_dpo", tuned.checkpoint))
    if "evaluate" in steps:
        if len(models) < 2:
            raise ConfigError(
                "recipe.stages: evaluate compares the base model with trained ones; add a training step"
            )
        options = ctx.options("cai_eval", models=models,
                              classifier=None if classifier is None else str(classifier.checkpoint))  # fmt: skip
        scores = ctx.stage(
            cai_eval,
            options,
            cai_eval.Inputs.from_config(options, ctx.env(cai_eval)),
            folder="evaluate",
            label="evaluate",
        )
        ctx.headline("Red team: safe answers per condition", red_team_text(scores.red_team))


def red_team_text(path: Any) -> str:
    from demalign.artifacts import read_jsonl
    from demalign.cai.evaluators import CONDITIONS, safe_shares

    rows = read_jsonl(path)
    models = list(dict.fromkeys(r["model"] for r in rows))
    lines = [f"{'model':<12} " + " ".join(f"{c:>22}" for c in CONDITIONS)]
    lines += [
        f"{s['model']:<12} " + " ".join(f"{s[c]:>22}" for c in CONDITIONS) for s in safe_shares(rows, models)
    ]
    return "\n".join(lines)
