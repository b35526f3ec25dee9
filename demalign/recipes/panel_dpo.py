"""Which panel objective (hard / soft / us_rep / full) gives the model a judge prefers on a constitution.

    demalign                                              # every step, four dataset modes, offline
    demalign recipe.stages=[prepare,train] dataset_mode=soft
    demalign recipe.stages=[questions,generate,evaluate,rank] generate.models_file=<collect run>/evaluate_models.json

Per dataset mode: prepare (PRISM pairs, panel weights) -> train (weighted DPO). Then once: questions
per constitution clause -> generate (the base model and every mode's checkpoint answer them) ->
evaluate (the judge compares the answers) -> rank (Bradley-Terry and friends with bootstrap CIs).

    <run>/<mode>/prepare/dataset.jsonl    <run>/<mode>/train/checkpoint/
    <run>/questions/questions/            <run>/generate/responses/    <run>/evaluate/pairwise.jsonl
    <run>/rank/ranking_scores.json
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from demalign.config.schema import PanelDpoStep
from demalign.llm.specs import ModelSpec, configured_models
from demalign.recipes.context import RecipeContext
from demalign.recipes.steps import answer_judge_rank, checked_steps
from demalign.stages import generate, inputs_from_config, prepare, questions, train

STEPS = tuple(step.value for step in PanelDpoStep)
NEEDS = {
    "train": "prepare",
    "evaluate": "generate",
    "rank": "evaluate",
}  # step -> the step whose output it reads


def run(ctx: RecipeContext, opts: DictConfig) -> None:
    steps = checked_steps(opts.stages, STEPS, NEEDS)
    modes = dataset_modes(opts, ctx.cfg.dataset_mode.name, ctx.run.overrides)
    per_mode = [step for step in steps if step in ("prepare", "train")]
    ctx.plan(len(modes) * len(per_mode) + len(steps) - len(per_mode))
    checkpoints: dict[str, ModelSpec] = {}

    for mode in modes:
        if "prepare" in steps:
            data = ctx.stage(
                prepare, ctx.options("dataset", max_pairs=opts.max_pairs_per_mode), prepare.Inputs(),
                folder=f"{mode}/prepare", env=ctx.env(prepare, dataset_mode={"name": mode}),
            )  # fmt: skip
        if "train" in steps:
            trained = ctx.stage(
                train,
                ctx.options("train"),
                train.Inputs(data.dataset),
                folder=f"{mode}/train",
            )
            checkpoints[mode] = ModelSpec(name=mode, kind="local", path=str(trained.checkpoint))

    questions_dir = None
    if "questions" in steps:
        constitution = inputs_from_config(questions, ctx.options("questions"), ctx.env(questions))
        questions_dir = ctx.stage(
            questions, ctx.options("questions"), constitution, folder="questions"
        ).questions_dir
    elif "generate" in steps:
        questions_dir = inputs_from_config(generate, ctx.options("generate"), ctx.env(generate)).questions_dir

    models = models_to_compare(ctx, opts, checkpoints) if "generate" in steps else ()
    answer_judge_rank(ctx, steps, questions_dir, models, "panel_dpo models")


def dataset_modes(opts: DictConfig, configured_mode: str, overrides: list[str]) -> list[str]:
    """`recipe.dataset_modes`, unless `dataset_mode=<m>` was given on the command line (as in a
    sweep over modes): then that one mode. null in the config also means the dataset_mode group's."""
    if opts.dataset_modes is None or any(o.startswith("dataset_mode=") for o in overrides):
        return [str(configured_mode)]
    return [str(mode) for mode in opts.dataset_modes]


def models_to_compare(
    ctx: RecipeContext, opts: DictConfig, checkpoints: dict[str, ModelSpec]
) -> tuple[ModelSpec, ...]:
    """The untrained base model and every mode's checkpoint, or, when this run trained nothing,
    the models the config lists (`generate.models` / `generate.models_file`)."""
    if checkpoints:
        return (ModelSpec(name=str(opts.base_model_name), kind="local", path=None), *checkpoints.values())
    listed = ctx.options("generate")
    return configured_models(OmegaConf.to_container(listed.models), listed.models_file, at_least=2)[0]
