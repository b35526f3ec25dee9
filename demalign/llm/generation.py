"""Responses of a list of models to a list of prompts, through the call cache.

This is the library half of a `generate` step: `evaluate` uses it for the answers its judges
compare, and later workflows (curation samples, CAI answers before revision, DART distillation)
reuse it. Each model answers every prompt `samples` times (sample k is its own call, its own cache
line and its own random draw); calls are batched for local models and sent
concurrently for API models (the model's `Role`), cached by a hash of model, messages and
generation settings (the seed included), so a rerun repeats nothing and a killed run resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from demalign.llm.cache import CallCache
from demalign.llm.calls import CallResult, ChatCall
from demalign.llm.execute import execute
from demalign.llm.roles import response_role
from demalign.llm.specs import ModelSpec

GENERATION_KEYS = ("max_new_tokens", "do_sample", "temperature", "top_p", "seed", "batch_size")


def prompt_messages(text: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """A single-turn chat: the optional system prompt, then `text` as the user message."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": text}]


@dataclass(frozen=True)
class PromptItem:
    """One prompt to answer: an id (unique within a generation) and its chat messages."""

    id: str
    messages: list[dict[str, str]]

    @classmethod
    def from_text(cls, id: str, text: str, system_prompt: str | None = None) -> PromptItem:
        return cls(id, prompt_messages(text, system_prompt))


@dataclass
class GenerationResult:
    """`responses[model][prompt_id]`: the prompt's samples in order (None where a call failed after its
    retries), and per model the calls and their results, prompt-major then sample (for usage
    accounting and error reports)."""

    responses: dict[str, dict[str, tuple[str | None, ...]]] = field(default_factory=dict)
    calls: dict[str, list[ChatCall]] = field(default_factory=dict)
    results: dict[str, list[CallResult]] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """`model/prompt_id#sample` of every response that failed."""
        return [
            f"{model}/{pid}#{k}"
            for model, by_id in self.responses.items()
            for pid, texts in by_id.items()
            for k, text in enumerate(texts)
            if text is None
        ]


def generate_responses(
    specs: Sequence[ModelSpec],
    prompts: Sequence[PromptItem],
    generation_settings: Mapping[str, Any],
    api_settings: Mapping[str, Any],
    model_cfg: Mapping[str, Any],
    base_model_path: Callable[[], str],
    call_cache: CallCache,
    overwrite: bool = False,
    samples: int = 1,
) -> GenerationResult:
    """Every model of `specs` answers every prompt `samples` times. `generation_settings` holds
    max_new_tokens, do_sample, temperature, top_p, seed, batch_size; `api_settings` the call keys for API models;
    `base_model_path` resolves the `model` group's base model, only when a spec needs it (so a
    run of API models or a fully cached rerun loads nothing). `overwrite=True` asks again even
    where the cache has an answer (new answers are appended; nothing is lost)."""
    ids = [prompt.id for prompt in prompts]
    if len(set(ids)) != len(ids):
        raise ValueError(
            f"prompt ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}"
        )
    if samples < 1:
        raise ValueError(f"samples must be >= 1 (got {samples})")
    generation = {key: generation_settings[key] for key in GENERATION_KEYS}
    outcome = GenerationResult()
    for spec in specs:
        role = response_role(spec, generation, api_settings, model_cfg, base_model_path)
        calls = [role.identity.call(prompt.messages, sample=k) for prompt in prompts for k in range(samples)]
        results = execute(calls, lambda role=role: role.backend, call_cache, role.policy, force=overwrite,
                          desc=f"responses {spec.name}")  # fmt: skip
        outcome.calls[spec.name], outcome.results[spec.name] = calls, results
        texts = [result.text for result in results]
        outcome.responses[spec.name] = {
            pid: tuple(texts[i * samples : (i + 1) * samples]) for i, pid in enumerate(ids)
        }
    return outcome
