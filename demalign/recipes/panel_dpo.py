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
from demalign.errors import ConfigError
from demalign.llm.specs import ModelSpec, configured_models
from demalign.recipes.context import RecipeContext
from demalign.stages import evaluate, generate, inputs_from_config, prepare, questions, rank, train

STEPS = tuple(step.value for step in PanelDpoStep)


def run(ctx: RecipeContext, opts: DictConfig) -> None:
    steps = checked_steps(list(opts.stages))
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

    if "questions" in steps:
        constitution = inputs_from_config(questions, ctx.options("questions"), ctx.env(questions))
        questions_dir = ctx.stage(
            questions, ctx.options("questions"), constitution, folder="questions"
        ).questions_dir
    elif "generate" in steps:
        questions_dir = inputs_from_config(generate, ctx.options("generate"), ctx.env(generate)).questions_dir

    if "generate" in steps:
        models = models_to_compare(ctx, opts, checkpoints)
        answers = ctx.stage(
            generate, ctx.options("generate"), generate.Inputs(questions_dir, None, models, "panel_dpo models"),
            folder="generate",
        )  # fmt: skip
        if ctx.options("generate").dry_run:
            return  # a dry run writes no responses: nothing to judge yet
    if "evaluate" in steps:
        verdicts = ctx.stage(
            evaluate, ctx.options("evaluate"), evaluate.Inputs(answers.responses_dir), folder="evaluate"
        )
    if "rank" in steps:
        scores = ctx.stage(
            rank, ctx.options("rank"),
            rank.Inputs(pairwise=verdicts.pairwise, listwise=verdicts.listwise, preferences=verdicts.preferences),
            folder="rank",
        )  # fmt: skip
        ctx.headline(f"Leaderboard: {scores.leaderboard_method}", leaderboard_text(scores.leaderboard))


def checked_steps(steps: list[str]) -> list[str]:
    """The steps to run; a step that needs an earlier one's output cannot run without it."""
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"recipe.stages: unknown step(s) {unknown}; choose from {list(STEPS)}")
    needs = {"train": "prepare", "evaluate": "generate", "rank": "evaluate"}
    for step, before in needs.items():
        if step in steps and before not in steps:
            raise ConfigError(
                f"recipe.stages: {step} needs {before} in the same recipe run (to run {step} on files you "
                f"already have, use stage={step})"
            )
    return steps


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


def leaderboard_text(rows: list[dict]) -> str:
    """A plain-text leaderboard: rank, model, score and its confidence interval."""
    lines = [f"{'rank':>4}  {'model':<16} {'score':>8}  CI"]
    lines += [
        f"{row['rank']:>4}  {row['model']:<16} {row['score']:>8.1f}  [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
        for row in rows
    ]
    return "\n".join(lines)
