"""Parts several recipes share: the `recipe.stages` check, and the judged comparison that closes
panel_dpo and moral_graph (generate -> evaluate -> rank, the leaderboard as the report's headline)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from demalign.errors import ConfigError
from demalign.llm.specs import ModelSpec
from demalign.recipes.context import RecipeContext
from demalign.stages import evaluate, generate, rank


def checked_steps(steps: Sequence[str], choices: Sequence[str], needs: Mapping[str, str]) -> list[str]:
    """The steps to run (`recipe.stages`); an unknown step, or a step without the earlier one whose
    output it needs (`needs[step]`), is a ConfigError naming both."""
    steps = [str(step) for step in steps]
    unknown = [s for s in steps if s not in choices]
    if unknown:
        raise ConfigError(f"recipe.stages: unknown step(s) {unknown}; choose from {list(choices)}")
    for step, before in needs.items():
        if step in steps and before not in steps:
            raise ConfigError(
                f"recipe.stages: {step} needs {before} in the same recipe run (to run {step} on files you "
                "already have, run its stage alone)"
            )
    return steps


def answer_judge_rank(
    ctx: RecipeContext,
    steps: Sequence[str],
    questions_dir: object,
    models: tuple[ModelSpec, ...],
    source: str,
) -> None:
    """generate (every model answers the questions) -> evaluate (the judge compares the answers) ->
    rank (scores with bootstrap CIs), for those of the three in `steps`; a generate dry run stops here."""
    if "generate" in steps:
        answers = ctx.stage(
            generate,
            ctx.options("generate"),
            generate.Inputs(questions_dir, None, models, source),
            folder="generate",
        )
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


def leaderboard_text(rows: list[dict]) -> str:
    """A plain-text leaderboard: rank, model, score and its confidence interval."""
    lines = [f"{'rank':>4}  {'model':<16} {'score':>8}  CI"]
    lines += [
        f"{row['rank']:>4}  {row['model']:<16} {row['score']:>8.1f}  [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
        for row in rows
    ]
    return "\n".join(lines)
