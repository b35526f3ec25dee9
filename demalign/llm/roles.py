"""Who answers: a named role (the judge of the `judge` config group, an API caller such as the
question writer, a model under evaluation generating responses).

A `Role` bundles a cache identity (name + settings), a call policy, and a factory for its backend.
The backend is built only when calls are actually sent, so a dry run needs neither an API key nor a
model download, and a fully cached rerun never loads a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demalign.errors import ConfigError
from demalign.llm.calls import AsyncBackend, BatchBackend, CallPolicy, Identity
from demalign.llm.heuristic import HEURISTIC_VERSION, HeuristicBackend, HeuristicWeights
from demalign.llm.specs import ModelSpec

JUDGE_BACKENDS = ("heuristic", "litellm", "hf")


@dataclass
class Role:
    """A caller's identity (its cache key), how its calls are sent, and a lazy backend."""

    identity: Identity
    policy: CallPolicy
    make_backend: Callable[[], AsyncBackend | BatchBackend]
    price_model: str | None = None  # litellm id whose price applies, for dry-run costs

    _backend: AsyncBackend | BatchBackend | None = None

    @property
    def backend(self) -> AsyncBackend | BatchBackend:
        if self._backend is None:
            self._backend = self.make_backend()
        return self._backend


def api_policy(node: Mapping[str, Any]) -> CallPolicy:
    """CallPolicy from a config node with the API call keys (conf/api/calls.yaml) and, for callers
    that parse the answer (judge, questions), `invalid_retries`; evaluate.api parses nothing."""
    return CallPolicy(
        concurrency=int(node["concurrency"]),
        requests_per_minute=node["requests_per_minute"],
        max_retries=int(node["max_retries"]),
        retry_backoff=float(node["retry_backoff"]),
        max_backoff=float(node["max_backoff"]),
        invalid_retries=int(node.get("invalid_retries", 0)),
        processes=int(node["client_processes"]),
    )


def litellm_backend_factory(
    model: str, base_url: str | None, api_key_env: str | None, timeout: float, config_key: str
) -> Callable[[], AsyncBackend]:
    def make() -> AsyncBackend:
        from demalign.llm.litellm_backend import LiteLLMBackend

        return LiteLLMBackend(model, base_url, api_key_env, timeout, config_key)

    return make


def local_backend_factory(
    path: str, model_cfg: Mapping[str, Any], base_path: str | None, generation: Mapping[str, Any]
) -> Callable[[], BatchBackend]:
    def make() -> BatchBackend:
        from demalign.llm.local import TransformersBackend

        return TransformersBackend(path, model_cfg, base_path, **generation)

    return make


def litellm_role(node: Mapping[str, Any], config_key: str) -> Role:
    """An API caller from a node with the keys of conf/api/litellm.yaml (model, base_url, api_key_env,
    temperature, max_output_tokens, seed, timeout and the CallPolicy keys): judge, questions."""
    settings = {
        "temperature": node.get("temperature"),
        "max_tokens": node.get("max_output_tokens"),
        "seed": node.get("seed"),
    }
    make = litellm_backend_factory(
        node["model"], node.get("base_url"), node.get("api_key_env"), float(node["timeout"]), config_key
    )
    return Role(Identity(node["model"], settings), api_policy(node), make, node["model"])


def judge_role(judge_cfg: Mapping[str, Any], base_model_path: Callable[[], str]) -> Role:
    """The judge of the `judge` group. `base_model_path` resolves the `model` group's model (used by
    the hf judge when `judge.name_or_path` is null)."""
    backend = judge_cfg.get("backend")
    if backend == "heuristic":
        weights = HeuristicWeights(
            relevance=float(judge_cfg["relevance_weight"]),
            length=float(judge_cfg["length_weight"]),
            diversity=float(judge_cfg["diversity_weight"]),
            min_words=int(judge_cfg["min_words"]),
            max_words=int(judge_cfg["max_words"]),
            tie_margin=float(judge_cfg["tie_margin"]),
        )
        settings = {**weights.__dict__, "version": HEURISTIC_VERSION}
        return Role(Identity("heuristic", settings), CallPolicy(batch_size=256, invalid_retries=0),
                    lambda: HeuristicBackend(weights))  # fmt: skip
    if backend == "litellm":
        return litellm_role(judge_cfg, "judge")
    if backend == "hf":
        from demalign.llm.local import model_fingerprint

        path = judge_cfg.get("name_or_path") or base_model_path()
        generation = {
            "max_new_tokens": int(judge_cfg["max_new_tokens"]),
            "do_sample": bool(judge_cfg["do_sample"]),
            "temperature": float(judge_cfg["temperature"]),
            "seed": int(judge_cfg["seed"]),
        }
        policy = CallPolicy(
            batch_size=int(judge_cfg["batch_size"]), invalid_retries=int(judge_cfg["invalid_retries"])
        )
        identity = Identity(f"hf:{model_fingerprint(path)}", generation)
        # The judge node carries the loading keys (torch_dtype, attn_implementation, ...) itself.
        return Role(identity, policy, local_backend_factory(path, judge_cfg, None, generation))
    raise ConfigError(
        f"judge.backend={backend!r}; choose one of {list(JUDGE_BACKENDS)} (e.g. judge=heuristic)"
    )


def response_role(
    spec: ModelSpec, generation: Mapping[str, Any], api: Mapping[str, Any], model_cfg: Mapping[str, Any],
    base_model_path: Callable[[], str],
) -> Role:  # fmt: skip
    """How model `spec` answers questions: `generation` holds max_new_tokens, do_sample, temperature,
    top_p, seed, batch_size; `api` the call keys for API models (evaluate.api)."""
    if spec.kind == "litellm":
        settings = {
            "max_tokens": int(generation["max_new_tokens"]),
            "temperature": float(generation["temperature"]) if generation["do_sample"] else 0.0,
            "top_p": float(generation["top_p"]) if generation["do_sample"] else None,
            "seed": int(generation["seed"]),
        }
        api_key_env = spec.api_key_env or api.get("api_key_env")
        make = litellm_backend_factory(spec.model, spec.base_url, api_key_env, float(api["timeout"]),
                                       f"evaluate.models[{spec.name}]")  # fmt: skip
        return Role(Identity(str(spec.model), settings), api_policy(api), make, spec.model)
    from demalign.llm.local import model_fingerprint

    is_adapter = bool(spec.path) and Path(str(spec.path), "adapter_config.json").is_file()
    # The base model is resolved (for the tiny default: built) only when this spec needs it.
    base = base_model_path() if not spec.path or is_adapter else None
    path = spec.path or base
    settings = {
        key: generation[key] for key in ("max_new_tokens", "do_sample", "temperature", "top_p", "seed")
    }
    policy = CallPolicy(batch_size=int(generation["batch_size"]), invalid_retries=0)
    identity = Identity(f"local:{model_fingerprint(path)}", settings)
    return Role(
        identity, policy, local_backend_factory(path, model_cfg, base if is_adapter else None, settings)
    )
