"""A helpfulness set for the helpful-only baseline: the generator answers ordinary prompts -> SFT rows {messages}.

    demalign stage=helpful                                   # the bundled cooperative prompts, the model group's base model
    demalign stage=helpful prompts=hh_rlhf_helpful prompts.limit=2000 helpful.categories=null

The seed's stage 2 fine-tunes on helpful conversations (Anthropic/hh-rlhf helpful-base). Offline, the
bundled cooperative prompts are answered by the generator; with the hub, `prompts=hh_rlhf_helpful`
takes the first human turn of helpful-base (answers still come from the generator, so the set
needs no human-written replies). Every call goes through the call cache; an answer that failed or
came back empty is left out and counted. Output: `helpful.jsonl` (what `stage=sft` and
`revise.helpful_set` read).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.cai.generator import generator_spec
from demalign.errors import ConfigError
from demalign.llm.cache import CallCache
from demalign.llm.execute import usage_rows, usage_section, usage_summary
from demalign.llm.generation import PromptItem, generate_responses
from demalign.stages import NoInputs

OPTIONS = "helpful"
SHARED = ("prompts", "model")
ROWS = "helpful.jsonl"
Inputs = NoInputs


@dataclass(frozen=True)
class Outputs:
    rows: Path  # SFT rows {messages: [user, assistant], prompt_id, source: helpful}

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / ROWS)


def run(opts: DictConfig, env: DictConfig, inputs: NoInputs, run: Run) -> Outputs:
    from demalign.promptsets import configured_part

    rows, prompt_set = configured_part(env.prompts, str(opts.split), "helpful.split")
    for path in prompt_set.files:
        run.record_input(path)
    wanted = None if opts.categories is None else {str(c) for c in opts.categories}
    rows = [r for r in rows if wanted is None or r.category in wanted][: opts.limit]
    if not rows:
        raise ConfigError(
            f"helpful: no prompts left from {prompt_set.source} (helpful.categories={opts.categories})"
        )
    spec = generator_spec(OmegaConf.to_container(opts.generator), "helpful.generator")

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    generation = {"max_new_tokens": int(opts.max_new_tokens), "do_sample": bool(opts.do_sample),
                  "temperature": float(opts.temperature), "top_p": float(opts.top_p), "seed": int(opts.seed), "batch_size": int(opts.batch_size)}  # fmt: skip
    items = [PromptItem.from_text(r.id, r.prompt, opts.system_prompt) for r in rows]
    result = generate_responses([spec], items, generation, OmegaConf.to_container(opts.api), env.model, base_model,
                                CallCache(Path(opts.cache_dir) / "calls.jsonl"))  # fmt: skip
    answers = result.single(spec.name)
    kept = [{"messages": [{"role": "user", "content": r.prompt}, {"role": "assistant", "content": answers[r.id]}],
             "prompt_id": r.id, "source": "helpful"} for r in rows if answers[r.id] and answers[r.id].strip()]  # fmt: skip
    failed = sum(answers[r.id] is None for r in rows)
    empty = len(rows) - len(kept) - failed
    if not kept:
        raise ConfigError(
            f"helpful: every one of {len(rows)} answers failed or was empty; nothing to train on"
        )
    run.write_jsonl(ROWS, kept)
    run.write_jsonl("usage.jsonl", usage_rows("helpful", result.calls[spec.name], result.results[spec.name]))
    usage = usage_summary(result.results[spec.name])
    run.metrics.update(prompts=len(rows), rows=len(kept), failed=failed, empty=empty, usage=usage)
    run.section(
        "Helpfulness set",
        f"Generator `{spec.name}` ({spec.kind}) answered {len(rows)} prompts of {prompt_set.source} ({opts.split} split, "
        f"categories {opts.categories}); {len(kept)} SFT rows in `{ROWS}`, {failed} failed and {empty} empty answers "
        "left out.",
    )
    run.section("Tokens and cost", usage_section([{"part": "helpful", **usage}]))
    return Outputs.in_folder(run.dir)
