"""Value-conditioned preference pairs from a moral graph's winners: dataset.jsonl for stage=train (DPO).

    demalign stage=value_pairs value_pairs.winners=<moral_graph run>/winners.json
    demalign stage=value_pairs value_pairs.winners=... 'value_pairs.answerer={name: gpt, kind: litellm, model: gpt-4o}'

For every prompt matched to a context (the moral graph's prompts file), the answerer writes two
answers: one with the context's winning value in its system message (the value's short instructions
and what it attends to) -> `chosen`, and a plain one -> `rejected`; the training prompt is the plain
one (MAI's route: `demalign.moral_graph.preferences`). Pairs whose answers failed or are identical are
listed in `dropped.jsonl`. Every answer goes through the call cache in `value_pairs.cache_dir`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.errors import ConfigError, DataError
from demalign.llm.cache import CallCache
from demalign.llm.execute import usage_rows, usage_section, usage_summary
from demalign.llm.generation import generate_responses
from demalign.llm.specs import MODEL_KINDS, ModelSpec
from demalign.moral_graph.graph import parse_value
from demalign.moral_graph.preferences import generation_items, preference_prompts, preference_rows
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "value_pairs"
SHARED = ("model",)  # the local answerer defaults to the model group's base model
DATASET = "dataset.jsonl"
DROPPED = "dropped.jsonl"
USAGE = "usage.jsonl"


@dataclass(frozen=True)
class Inputs:
    winners: Path  # winners.json from stage=moral_graph: winners, their value cards, prompts per context

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.winners))


@dataclass(frozen=True)
class Outputs:
    dataset: Path  # DPO rows {prompt, chosen, rejected} (chat format) + context, value_id
    dropped: Path  # prompts without a pair, and why

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / DATASET, Path(folder) / DROPPED)


def answerer_spec(entry: dict) -> ModelSpec:
    """The `value_pairs.answerer` entry (generate.models' format) as a ModelSpec."""
    unknown = set(entry) - {"name", "kind", "path", "model", "base_url", "api_key_env"}
    if unknown:
        raise ConfigError(f"value_pairs.answerer: unknown key(s) {sorted(unknown)}")
    if entry.get("kind") not in MODEL_KINDS:
        raise ConfigError(
            f"value_pairs.answerer.kind={entry.get('kind')!r}; choose one of {list(MODEL_KINDS)}"
        )
    if entry["kind"] == "litellm" and not entry.get("model"):
        raise ConfigError("value_pairs.answerer.model: a litellm model id is required for kind=litellm")
    return ModelSpec(**{"name": "answerer", **entry})


def load_winners(path: Path) -> tuple[list[dict], dict, dict[str, list[str]]]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        winners, raw_values, prompts = record["winners"], record["values"], record["prompts"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(
            f"{path}: expected stage=moral_graph's winners.json {{winners, values, prompts}} ({err})"
        ) from None
    values = {str(k): parse_value(v, f"{path}: values[{k!r}]") for k, v in raw_values.items()}
    return winners, values, prompts


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    winners, values, prompts = load_winners(run.record_input(inputs.winners))
    items = preference_prompts(winners, prompts, opts.prompts_per_context)
    if not items:
        raise DataError(
            f"{inputs.winners}: no context with a winner has prompts; give moral_graph.prompts "
            "(a YAML `contexts: {<context>: [prompts]}` spelled as the export's contexts)"
        )
    spec = answerer_spec(OmegaConf.to_container(opts.answerer))  # type: ignore[arg-type]
    run.seeds["value_pairs.seed"] = int(opts.seed)

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    conditioned, plain = generation_items(items, values, opts.system_prompt)
    call_cache = CallCache(Path(opts.cache_dir) / "calls.jsonl")
    model_cfg = OmegaConf.to_container(env.model)
    chosen = generate_responses([spec], conditioned, opts, opts.api, model_cfg, base_model, call_cache)  # type: ignore[arg-type]
    rejected = generate_responses([spec], plain, opts, opts.api, model_cfg, base_model, call_cache)  # type: ignore[arg-type]
    rows, dropped = preference_rows(items, chosen.single(spec.name), rejected.single(spec.name),
                                    opts.system_prompt)  # fmt: skip
    run.write_jsonl(DATASET, rows)
    run.write_jsonl(DROPPED, dropped)
    results = chosen.results[spec.name] + rejected.results[spec.name]
    calls = chosen.calls[spec.name] + rejected.calls[spec.name]
    run.write_jsonl(USAGE, usage_rows("value_pairs", calls, results))
    usage = usage_summary(results)
    per_context = {}
    for row in rows:
        per_context[row["context"]] = per_context.get(row["context"], 0) + 1
    run.metrics.update(prompts=len(items), pairs=len(rows), dropped=len(dropped), usage=usage,
                       pairs_per_context=per_context, answerer=spec.name)  # fmt: skip
    table = [
        {"context": w["context"], "value": w["title"], "pairs": per_context.get(w["context"], 0)}
        for w in winners
    ]
    run.section(
        "Value-conditioned pairs",
        f"`{spec.name}` ({spec.kind}) answered {len(items)} prompts twice: with the context's winning value in "
        f"the system message (chosen) and plainly (rejected). {len(rows)} pairs in `{DATASET}`; {len(dropped)} "
        f"dropped (failed or identical answers, `{DROPPED}`).\n\n" + markdown_table(table),
    )
    run.section("Tokens and cost", usage_section([{"part": "value_pairs", **usage}]))
    if not rows:
        raise DataError(f"value_pairs: every pair was dropped (see {run.dir / DROPPED}); nothing to train on")
    return Outputs.in_folder(run.dir)
