"""Responses of a list of models to a list of questions: batched, cached, seeded.

    demalign stage=generate generate.questions_dir=<questions run>/questions \
        'generate.models=[{name: base, kind: local, path: null}, {name: full, kind: local, path: <train run>/checkpoint}]'
    demalign stage=generate generate.models_file=<collect run>/evaluate_models.json generate.dry_run=true ...

Writes `responses/models.json` and `responses/<model>.jsonl` (the response set evaluate judges) and
`usage.jsonl`. Every response goes through the call cache in `generate.cache_dir`: a rerun (also
after a kill) repeats no finished call and re-asks failed ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.constitution.questions import Item, load_items, select_items
from demalign.errors import DataError
from demalign.judging import budget
from demalign.judging.responses import MODELS_FILE, models_record, response_rows
from demalign.llm.cache import CallCache
from demalign.llm.execute import usage_rows, usage_section, usage_summary
from demalign.llm.generation import PromptItem, generate_responses
from demalign.llm.specs import ModelSpec, configured_models
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "generate"
SHARED = ("model",)
RESPONSES = "responses"


@dataclass(frozen=True)
class Inputs:
    questions_dir: Path  # questions/clause_XX.json from the questions stage
    models: tuple[ModelSpec, ...]  # who answers, in comparison order
    models_source: str = "generate.models"  # where the list came from, for error messages

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        models, source = configured_models(OmegaConf.to_container(opts.models), opts.models_file)
        return cls(Path(opts.questions_dir), models, source)


@dataclass(frozen=True)
class Outputs:
    responses_dir: Path  # responses/models.json + responses/<model>.jsonl

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / RESPONSES)


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    items = select_items(
        load_items(inputs.questions_dir), opts.questions_per_clause, opts.max_questions, int(opts.seed)
    )
    run.record_input(inputs.questions_dir)
    if Path(inputs.models_source).is_file():
        run.record_input(inputs.models_source)
    run.seeds["generate.seed"] = int(opts.seed)
    specs = list(inputs.models)
    if opts.dry_run:
        _dry_run(opts, run, items, specs)
        return Outputs.in_folder(run.dir)

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    prompts = [PromptItem.from_text(item.question_id, item.question, opts.system_prompt) for item in items]
    generated = generate_responses(
        specs, prompts, opts, opts.api, OmegaConf.to_container(env.model), base_model,
        CallCache(Path(opts.cache_dir) / "calls.jsonl"), overwrite=bool(opts.overwrite_responses),
    )  # fmt: skip
    run.write_json(f"{RESPONSES}/{MODELS_FILE}", models_record(specs))
    usage, all_results = [], []
    for spec in specs:
        calls, results = generated.calls[spec.name], generated.results[spec.name]
        run.write_jsonl(f"{RESPONSES}/{spec.name}.jsonl", response_rows(items, spec.name, results))
        usage += usage_rows(f"responses:{spec.name}", calls, results)
        all_results += results
    run.write_jsonl("usage.jsonl", usage)
    summary = usage_summary(all_results)
    run.metrics.update(questions=len(items), models=[spec.name for spec in specs], usage=summary)
    run.section(
        "Responses",
        f"M = {len(specs)} models ({', '.join(s.name for s in specs)}) answered Q = {len(items)} questions from "
        f"`{inputs.questions_dir}` (seed {opts.seed}, max_new_tokens {opts.max_new_tokens}, "
        f"{'sampled at temperature ' + str(opts.temperature) if opts.do_sample else 'greedy'}); "
        f"answers in `{RESPONSES}/<model>.jsonl`.",
    )
    run.section("Tokens and cost", usage_section([{"part": "responses", **summary}]))
    failed = generated.failures()
    if failed:
        raise DataError(
            f"generate: {len(failed)} responses failed after all retries ({failed[:5]} ...); see "
            f"{RESPONSES}/*.jsonl in {run.dir} for the errors. Rerun to retry them (finished calls are cached)."
        )
    return Outputs.in_folder(run.dir)


def _dry_run(opts: DictConfig, run: Run, items: list[Item], specs: list[ModelSpec]) -> None:
    """Calls, upper-bound tokens and the expected cost of the API models' responses; sends nothing."""
    from demalign.llm.litellm_backend import expected_cost

    numbers = budget.expected_tokens(
        items, len(specs), 1, "none", opts.system_prompt, int(opts.max_new_tokens), 0
    )
    per_model = {key: value // len(specs) for key, value in numbers["responses"].items()}
    rows = []
    for spec in specs:
        cost = (
            expected_cost(str(spec.model), per_model["prompt_tokens"], per_model["completion_tokens"])
            if spec.kind == "litellm"
            else 0.0
        )
        rows.append({"model": spec.name, "kind": spec.kind, **per_model, "expected_cost_usd": cost})
    note = (
        f"Q = {len(items)} questions, M = {len(specs)} models: Q·M responses. Tokens are upper bounds (every "
        "completion uses its whole budget; 4 characters per token); cost is litellm's bundled price (None = unknown)."
    )
    table = markdown_table(rows)
    print(f"generate.dry_run: nothing sent.\n{note}\n{table}")
    run.metrics.update(dry_run=True, estimate=rows)
    run.section("Generation dry run", f"{note}\n\n{table}")
