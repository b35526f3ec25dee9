"""The `model` config group: where the weights come from, how they load, and the tokenizer's chat template.

Used by training and by evaluation (generation), so both load a model the same way:

    path = resolve_name_or_path(cfg.model, cfg.paths.cache_dir)      # builds the tiny model if needed
    tokenizer = load_tokenizer(cfg.model, path)
    model = AutoModelForCausalLM.from_pretrained(path, **model_init_kwargs(cfg.model))

`HF_TOKEN` is read by huggingface_hub from the environment; it is never put in a config or kwargs,
so it cannot leak into logged configs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from demalign.errors import ConfigError
from demalign.training.tiny import ensure_tiny_model

log = logging.getLogger(__name__)

SOURCES = ("tiny", "hub")
DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")

# The seed tool's template for tokenizers without one (base models such as Llama-3.1-8B), with one
# change: the generation prompt is "Assistant:" and an assistant turn is "Assistant: <text>", so the
# tokenised prompt stays a prefix of prompt+completion (a trailing space would break that for BPE).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ 'System: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _get(model_cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return model_cfg.get(key, default) if hasattr(model_cfg, "get") else getattr(model_cfg, key, default)


def resolve_name_or_path(model_cfg: Mapping[str, Any], cache_dir: Path | str) -> str:
    """Hub id or local folder to load. `source: tiny` builds the tiny model (settings from
    `model.tiny`) under `cache_dir` on first use."""
    source = _get(model_cfg, "source", "hub")
    if source not in SOURCES:
        raise ConfigError(f"model.source={source!r}; choose one of {list(SOURCES)}")
    if source == "tiny":
        overrides = dict(_get(model_cfg, "tiny") or {})
        return str(ensure_tiny_model(cache_dir, **overrides))
    name_or_path = _get(model_cfg, "name_or_path")
    if not name_or_path:
        raise ConfigError("model.name_or_path is empty; set a hub id (org/name) or a local model folder")
    return str(name_or_path)


def model_init_kwargs(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """`from_pretrained` kwargs from the model group (dtype, attention, remote code, revision)."""
    dtype = _get(model_cfg, "torch_dtype", "auto")
    if dtype not in DTYPES:
        raise ConfigError(f"model.torch_dtype={dtype!r}; choose one of {list(DTYPES)}")
    attn = _get(model_cfg, "attn_implementation")
    if attn is not None and attn not in ATTN_IMPLEMENTATIONS:
        raise ConfigError(
            f"model.attn_implementation={attn!r}; choose one of {list(ATTN_IMPLEMENTATIONS)} or null"
        )
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "trust_remote_code": bool(_get(model_cfg, "trust_remote_code", False)),
    }
    if attn is not None:
        kwargs["attn_implementation"] = attn
    if _get(model_cfg, "revision") is not None:
        kwargs["revision"] = str(_get(model_cfg, "revision"))
    return kwargs


def ensure_chat_template(tokenizer: Any, name: str) -> Any:
    """Give a tokenizer without a chat template the `User:`/`Assistant:` fallback (logged) and a
    pad token (its EOS) when it has none. Returns the same tokenizer."""
    if not getattr(tokenizer, "chat_template", None):
        log.info("model %s has no chat template; using the User:/Assistant: fallback template", name)
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_tokenizer(model_cfg: Mapping[str, Any], name_or_path: str) -> Any:
    """AutoTokenizer for `name_or_path`, with the chat-template/pad fallbacks applied."""
    from transformers import AutoTokenizer

    kwargs = {k: v for k, v in model_init_kwargs(model_cfg).items() if k in ("trust_remote_code", "revision")}
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    return ensure_chat_template(tokenizer, str(_get(model_cfg, "name", name_or_path)))
