"""Responses of a list of models to a list of prompts, through the call cache.

This is the library half of a `generate` step: `evaluate` uses it for the answers its judges
compare, and later workflows (curation samples, CAI answers before revision, DART distillation)
reuse it. Each model answers every prompt once; calls are batched for local models and sent
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

GENERATION_KEYS = ("max_new_tokens", "do_sample", "temperature", "seed", "batch_size")


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
    """`responses[model][prompt_id]` (None where the call failed after its retries), and per model
    the calls and their results in prompt order (for usage accounting and error reports)."""

    responses: dict[str, dict[str, str | None]] = field(default_factory=dict)
    calls: dict[str, list[ChatCall]] = field(default_factory=dict)
    results: dict[str, list[CallResult]] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """`model/prompt_id` of every response that failed."""
        return [
            f"{model}/{pid}"
            for model, by_id in self.responses.items()
            for pid, t in by_id.items()
            if t is None
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
) -> GenerationResult:
    """Every model of `specs` answers every prompt. `generation_settings` holds max_new_tokens,
    do_sample, temperature, seed, batch_size; `api_settings` the call keys for API models;
    `base_model_path` resolves the `model` group's base model, only when a spec needs it (so a
    run of API models or a fully cached rerun loads nothing). `overwrite=True` asks again even
    where the cache has an answer (new answers are appended; nothing is lost)."""
    ids = [prompt.id for prompt in prompts]
    if len(set(ids)) != len(ids):
        raise ValueError(
            f"prompt ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}"
        )
    generation = {key: generation_settings[key] for key in GENERATION_KEYS}
    outcome = GenerationResult()
    for spec in specs:
        role = response_role(spec, generation, api_settings, model_cfg, base_model_path)
        calls = [role.identity.call(prompt.messages) for prompt in prompts]
        results = execute(calls, lambda role=role: role.backend, call_cache, role.policy, force=overwrite,
                          desc=f"responses {spec.name}")  # fmt: skip
        outcome.calls[spec.name], outcome.results[spec.name] = calls, results
        outcome.responses[spec.name] = {pid: result.text for pid, result in zip(ids, results, strict=True)}
    return outcome
