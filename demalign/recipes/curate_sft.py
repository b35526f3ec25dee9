"""Does fine-tuning on critic-curated answers make a model better by the constitution than its base?

    demalign recipe=curate_sft                                   # offline: bundled prompts, tiny model, heuristic critic
    demalign recipe=curate_sft select.policy=margin recipe.num_gen_candidates=8
    demalign recipe=curate_sft model=qwen2_5_0_5b_instruct trainer=sft_lora judge=litellm judge.model=<critic>

prompts (a seeded train / held-out split of the prompt set) -> candidates (the base model samples
N answers per training prompt) -> critique (the critic scores each 1-5 against the constitution) ->
select (best / margin / diverse: SFT rows, DPO pairs and KTO rows) -> sft (on the SFT rows) ->
answers (base and fine-tuned answer the held-out prompts, greedy by default) -> judge answers (the
same critic) -> compare (paired statistics: which model is better, with what confidence).

    <run>/prompts/prompts/{train,eval}.jsonl   <run>/candidates/candidates.jsonl   <run>/critique/critiques.jsonl
    <run>/select/{sft,dpo,kto}/train.jsonl     <run>/sft/checkpoint/               <run>/answers/candidates.jsonl
    <run>/judge_answers/critiques.jsonl        <run>/compare/report.json
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.constitution.clauses import constitution_path
from demalign.llm.specs import ModelSpec, parse_model_spec
from demalign.recipes.context import RecipeContext
from demalign.stages import compare, critique, generate, prompts, select, sft


def run(ctx: RecipeContext, opts: DictConfig) -> None:
    ctx.plan(8)
    split = ctx.stage(prompts, ctx.options("prompts"), prompts.Inputs(), folder="prompts")

    base = ModelSpec(name=str(opts.base_model_name), kind="local", path=None)
    generator = candidate_writer(opts, base)
    sampling = {key: opts[key] for key in ("num_gen_candidates", "temperature", "top_p", "max_new_tokens")}
    candidates = ctx.stage(
        generate, ctx.options("generate", do_sample=True, **sampling),
        generate.Inputs(None, split.train, (generator,), "recipe.generator"), folder="candidates",
    )  # fmt: skip
    if ctx.options("generate").dry_run:
        return  # a dry run writes no candidates: nothing to critique yet
    constitution = constitution_path(ctx.cfg.constitution.path)
    scored = ctx.stage(
        critique,
        ctx.options("critique"),
        critique.Inputs(candidates.candidates, constitution),
        folder="critique",
    )
    curated = ctx.stage(select, ctx.options("select"), select.Inputs(scored.critiques), folder="select")
    tuned = ctx.stage(sft, ctx.options("sft"), sft.Inputs(curated.sft_train, curated.sft_val), folder="sft")

    fine_tuned = ModelSpec(name=str(opts.tuned_model_name), kind="local", path=str(tuned.checkpoint))
    answers = ctx.stage(
        generate, ctx.options("generate", num_gen_candidates=int(opts.eval_candidates)),
        generate.Inputs(None, split.eval, (base, fine_tuned), "recipe models"), folder="answers",
    )  # fmt: skip
    judged = ctx.stage(
        critique, ctx.options("critique"), critique.Inputs(answers.candidates, constitution),
        folder="judge_answers",
    )  # fmt: skip
    comparison = ctx.stage(
        compare, ctx.options("compare", baseline=base.name, candidate=fine_tuned.name),
        compare.Inputs(judged.critiques), folder="compare",
    )  # fmt: skip
    ctx.headline(f"Verdict: {fine_tuned.name} vs {base.name}", verdict_text(comparison.report))


def candidate_writer(opts: DictConfig, base: ModelSpec) -> ModelSpec:
    """Who samples the candidates: the base model itself (rejection-sampling fine-tuning), or the
    model entry in `recipe.generator` (e.g. an API model whose curated answers the base model learns)."""
    if opts.generator is None:
        return base
    return parse_model_spec(OmegaConf.to_container(opts.generator, resolve=True), "recipe.generator")


def verdict_text(report: Path) -> str:
    """The comparison's one-sentence verdict and the two models' mean scores and safe rates."""
    record = json.loads(report.read_text(encoding="utf-8"))
    a, b = record["labels"]["a"], record["labels"]["b"]
    lines = [record["verdict"]]
    lines += [
        f"  {label:<10} mean {record[label]['mean_score']}, safe rate {record[label]['safe_rate']}"
        for label in (a, b)
    ]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
