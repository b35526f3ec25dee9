"""Answers of a list of models to questions or prompts, N per prompt: batched, cached, seeded.

    demalign stage=generate generate.questions_dir=<questions run>/questions \
        'generate.models=[{name: base, kind: local, path: null}, {name: full, kind: local, path: <train run>/checkpoint}]'
    demalign stage=generate generate.prompts_file=<prompts run>/prompts/train.jsonl generate.num_gen_candidates=4 \
        generate.do_sample=true 'generate.models=[{name: base, kind: local, path: null}]'
    demalign stage=generate generate.models_file=<collect run>/evaluate_models.json generate.dry_run=true ...

The prompts are constitution questions (`questions_dir`, from stage=questions) or a prompt set
(`prompts_file`, `{id, prompt, category}` JSONL from stage=prompts). Writes `candidates.jsonl` (every
answer as a candidate `{prompt_id, prompt, candidate_id: <model>/<k>, candidate, category}`, what
critique scores), for questions answered once the response set evaluate judges (`responses/models.json`,
`responses/<model>.jsonl`), and `usage.jsonl`. An answer is the completion only, never the prompt.
Every call goes through the call cache in `generate.cache_dir`: a rerun (also after a kill) repeats
no finished call and re-asks failed ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.constitution.questions import load_items, select_items
from demalign.errors import ConfigError, DataError
from demalign.judging.budget import estimate_tokens
from demalign.judging.responses import MODELS_FILE, models_record, response_rows
from demalign.llm.cache import CallCache
from demalign.llm.execute import usage_rows, usage_section, usage_summary
from demalign.llm.generation import PromptItem, generate_responses
from demalign.llm.specs import ModelSpec, configured_models
from demalign.promptsets import read_prompts
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "generate"
SHARED = ("model",)
RESPONSES = "responses"
CANDIDATES = "candidates.jsonl"


@dataclass(frozen=True)
class Inputs:
    questions_dir: Path | None  # questions/clause_XX.json from the questions stage, or
    prompts_file: Path | None  # a prompt set {id, prompt, category} JSONL (stage=prompts)
    models: tuple[ModelSpec, ...]  # who answers, in comparison order
    models_source: str = "generate.models"  # where the list came from, for error messages

    def __post_init__(self) -> None:
        if (self.questions_dir is None) == (self.prompts_file is None):
            raise ConfigError(
                "generate: set exactly one of generate.questions_dir (constitution questions from stage=questions) "
                f"and generate.prompts_file (a prompt set from stage=prompts); got questions_dir={self.questions_dir}, "
                f"prompts_file={self.prompts_file}"
            )

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        models, source = configured_models(OmegaConf.to_container(opts.models), opts.models_file)
        questions, prompts = opts.questions_dir, opts.prompts_file
        return cls(Path(questions) if questions else None, Path(prompts) if prompts else None, models, source)


@dataclass(frozen=True)
class Outputs:
    candidates: Path  # every answer as a candidate (curation.candidates format), candidate_id <model>/<k>
    responses_dir: Path  # responses/models.json + responses/<model>.jsonl (questions answered once only)

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / CANDIDATES, Path(folder) / RESPONSES)


@dataclass(frozen=True)
class Prompt:
    """One prompt to answer, as the candidates file names it."""

    id: str
    text: str
    category: str | None


def candidate_rows(
    prompts: list[Prompt], specs: list[ModelSpec], responses: dict[str, dict[str, tuple[str | None, ...]]]
) -> list[dict[str, str | None]]:
    """Prompt by prompt, model by model, sample by sample: one candidate per answer (a failed call
    has no row). Ties in selection go to the earlier candidate, so the order is part of the result."""
    return [
        {"prompt_id": prompt.id, "prompt": prompt.text, "candidate_id": f"{spec.name}/{k}",
         "candidate": text, "category": prompt.category}
        for prompt in prompts
        for spec in specs
        for k, text in enumerate(responses[spec.name][prompt.id])
        if text is not None
    ]  # fmt: skip


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    samples = int(opts.num_gen_candidates)
    if samples < 1 or (samples > 1 and not opts.do_sample):
        raise ConfigError(
            f"generate.num_gen_candidates={samples}: needs >= 1, and N > 1 needs generate.do_sample=true "
            "(N greedy answers are one answer N times)"
        )
    if inputs.questions_dir is not None:
        items = select_items(
            load_items(inputs.questions_dir), opts.questions_per_clause, opts.max_questions, int(opts.seed)
        )
        prompts = [Prompt(item.question_id, item.question, f"clause {item.clause_id}") for item in items]
        run.record_input(inputs.questions_dir)
        source = f"questions from `{inputs.questions_dir}`"
    else:
        items = []
        prompts = [Prompt(row.id, row.prompt, row.category) for row in read_prompts(inputs.prompts_file)]
        run.record_input(inputs.prompts_file)
        source = f"prompts from `{inputs.prompts_file}`"
    if Path(inputs.models_source).is_file():
        run.record_input(inputs.models_source)
    run.seeds["generate.seed"] = int(opts.seed)
    specs = list(inputs.models)
    chats = [PromptItem.from_text(prompt.id, prompt.text, opts.system_prompt) for prompt in prompts]
    if opts.dry_run:
        _dry_run(opts, run, chats, specs, samples)
        return Outputs.in_folder(run.dir)

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    generated = generate_responses(
        specs, chats, opts, opts.api, OmegaConf.to_container(env.model), base_model,
        CallCache(Path(opts.cache_dir) / "calls.jsonl"), overwrite=bool(opts.overwrite_responses), samples=samples,
    )  # fmt: skip
    run.write_jsonl(CANDIDATES, candidate_rows(prompts, specs, generated.responses))
    response_set = bool(items) and samples == 1
    if response_set:
        run.write_json(f"{RESPONSES}/{MODELS_FILE}", models_record(specs))
    usage, all_results = [], []
    for spec in specs:
        calls, results = generated.calls[spec.name], generated.results[spec.name]
        if response_set:
            run.write_jsonl(f"{RESPONSES}/{spec.name}.jsonl", response_rows(items, spec.name, results))
        usage += usage_rows(f"responses:{spec.name}", calls, results)
        all_results += results
    run.write_jsonl("usage.jsonl", usage)
    summary = usage_summary(all_results)
    run.metrics.update(
        prompts=len(prompts), samples=samples, models=[spec.name for spec in specs], usage=summary
    )
    sampling = (
        f"sampled at temperature {opts.temperature}, top_p {opts.top_p}" if opts.do_sample else "greedy"
    )
    files = f"`{CANDIDATES}`" + (f" and the response set `{RESPONSES}/<model>.jsonl`" if response_set else "")
    run.section(
        "Responses",
        f"M = {len(specs)} models ({', '.join(s.name for s in specs)}) answered P = {len(prompts)} {source}, "
        f"N = {samples} answer(s) each (seed {opts.seed}, max_new_tokens {opts.max_new_tokens}, {sampling}); "
        f"answers in {files}.",
    )
    run.section("Tokens and cost", usage_section([{"part": "responses", **summary}]))
    failed = generated.failures()
    if failed:
        raise DataError(
            f"generate: {len(failed)} responses failed after all retries ({failed[:5]} ...); see usage.jsonl "
            f"in {run.dir} for the errors. Rerun to retry them (finished calls are cached)."
        )
    return Outputs.in_folder(run.dir)


def _dry_run(
    opts: DictConfig, run: Run, chats: list[PromptItem], specs: list[ModelSpec], samples: int
) -> None:
    """Calls, upper-bound tokens and the expected cost of the API models' responses; sends nothing."""
    from demalign.llm.litellm_backend import expected_cost

    calls = len(chats) * samples
    per_model = {
        "calls": calls,
        "prompt_tokens": samples
        * sum(estimate_tokens(m["content"]) for chat in chats for m in chat.messages),
        "completion_tokens": calls * int(opts.max_new_tokens),
    }
    rows = []
    for spec in specs:
        cost = (
            expected_cost(str(spec.model), per_model["prompt_tokens"], per_model["completion_tokens"])
            if spec.kind == "litellm"
            else 0.0
        )
        rows.append({"model": spec.name, "kind": spec.kind, **per_model, "expected_cost_usd": cost})
    note = (
        f"P = {len(chats)} prompts, N = {samples} answers each, M = {len(specs)} models: P·N·M responses. Tokens "
        "are upper bounds (every completion uses its whole budget; 4 characters per token); cost is litellm's "
        "bundled price (None = unknown)."
    )
    table = markdown_table(rows)
    print(f"generate.dry_run: nothing sent.\n{note}\n{table}")
    run.metrics.update(dry_run=True, estimate=rows)
    run.section("Generation dry run", f"{note}\n\n{table}")
