"""Does a model trained on a moral graph's winning values answer more wisely, by that graph's constitution?

    demalign recipe=moral_graph                                        # the bundled synthetic graph, offline
    demalign recipe=moral_graph moral_graph.path=edges.json moral_graph.prompts=prompts.yaml
    demalign recipe=moral_graph moral_graph=bundled_votes              # raw votes, panel-weighted
    demalign recipe=moral_graph 'recipe.stages=[deliberate,moral_graph,value_pairs,train,questions,generate,evaluate,rank]'
    demalign recipe=moral_graph recipe.stages=[moral_graph,questions,generate,evaluate,rank] generate.models_file=...

(optionally deliberate: a simulated deliberation by a PRISM sortition panel ->) moral_graph (import, summarise, rank, winners per context -> constitution.yaml) -> value_pairs
(chosen = answer with the winning value's policies, rejected = plain) -> train (DPO) -> questions (one
clause per context, the constitution handed over) -> generate (base and trained model) -> evaluate
(the judge compares them) -> rank.

    <run>/moral_graph/constitution.yaml   <run>/value_pairs/dataset.jsonl   <run>/train/checkpoint/
    <run>/questions/questions/            <run>/generate/responses/          <run>/rank/ranking_scores.json
"""

from __future__ import annotations

import dataclasses

from omegaconf import DictConfig, OmegaConf

from demalign.config.schema import MoralGraphStep
from demalign.llm.specs import ModelSpec, configured_models
from demalign.recipes.context import RecipeContext
from demalign.recipes.steps import answer_judge_rank, checked_steps
from demalign.stages import (
    deliberate,
    generate,
    inputs_from_config,
    questions,
    train,
    value_pairs,
)
from demalign.stages import moral_graph as graph_stage

STEPS = tuple(step.value for step in MoralGraphStep)
NEEDS = {
    "deliberate": "moral_graph",
    "value_pairs": "moral_graph",
    "train": "value_pairs",
    "evaluate": "generate",
    "rank": "evaluate",
}


def run(ctx: RecipeContext, opts: DictConfig) -> None:
    steps = checked_steps(opts.stages, STEPS, NEEDS)
    ctx.plan(len(steps))
    checkpoint = None

    if "moral_graph" in steps:
        graph_opts = ctx.options("moral_graph")
        graph_inputs = inputs_from_config(graph_stage, graph_opts, ctx.env(graph_stage))
        if (
            "deliberate" in steps
        ):  # the simulated panel's cards, votes and demographics replace the configured files
            simulated = ctx.stage(deliberate, ctx.options("deliberate"), inputs_from_config(
                deliberate, ctx.options("deliberate"), ctx.env(deliberate)), folder="deliberate")  # fmt: skip
            graph_inputs = dataclasses.replace(
                graph_inputs,
                export=simulated.values,
                votes=simulated.votes,
                demographics=simulated.demographics,
            )
        graph = ctx.stage(graph_stage, graph_opts, graph_inputs, folder="moral_graph")
        constitution = graph.constitution
    if "value_pairs" in steps:
        pairs = ctx.stage(value_pairs, ctx.options("value_pairs"), value_pairs.Inputs(graph.winners),
                          folder="value_pairs")  # fmt: skip
    if "train" in steps:
        trained = ctx.stage(train, ctx.options("train"), train.Inputs(pairs.dataset), folder="train")
        checkpoint = ModelSpec(name=str(opts.trained_model_name), kind="local", path=str(trained.checkpoint))

    questions_dir = None
    if "questions" in steps:
        if "moral_graph" not in steps:  # the constitution.path of the config (e.g. an earlier run's file)
            constitution = inputs_from_config(
                questions, ctx.options("questions"), ctx.env(questions)
            ).constitution
        questions_dir = ctx.stage(
            questions,
            ctx.options("questions"),
            questions.Inputs(constitution=constitution),
            folder="questions",
        ).questions_dir
    elif "generate" in steps:
        questions_dir = inputs_from_config(generate, ctx.options("generate"), ctx.env(generate)).questions_dir

    models: tuple[ModelSpec, ...] = ()
    if "generate" in steps and checkpoint is not None:
        models = (ModelSpec(name=str(opts.base_model_name), kind="local", path=None), checkpoint)
    elif "generate" in steps:
        listed = ctx.options("generate")
        models = configured_models(OmegaConf.to_container(listed.models), listed.models_file, at_least=2)[0]
    answer_judge_rank(ctx, steps, questions_dir, models, "moral_graph models")
