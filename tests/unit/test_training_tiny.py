"""The tiny offline model: cached by settings, deterministic, loadable, and chat-template safe for TRL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from demalign.errors import ConfigError
from demalign.training.tiny import TinyModelSpec, corpus_lines, ensure_tiny_model, tiny_spec


def test_cache_folder_is_keyed_by_every_setting() -> None:
    assert TinyModelSpec().key() == tiny_spec().key()
    assert tiny_spec(hidden_size=32).key() != TinyModelSpec().key()
    assert tiny_spec(seed=1).key() != TinyModelSpec().key()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="hidden_sise"):
        tiny_spec(hidden_sise=32)
    with pytest.raises(ConfigError, match="divisible"):
        tiny_spec(hidden_size=30, num_attention_heads=4)


def test_corpus_does_not_depend_on_what_else_was_imported() -> None:
    """Submodule attributes (e.g. email.mime once imported) are skipped, so the corpus is stable."""
    before = hashlib.sha256("\n".join(corpus_lines()).encode()).hexdigest()
    import email.mime.text  # noqa: F401
    import http.server  # noqa: F401
    import logging.handlers  # noqa: F401

    assert hashlib.sha256("\n".join(corpus_lines()).encode()).hexdigest() == before


def test_build_is_deterministic_loads_and_keeps_the_prompt_a_token_prefix(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "vocab_size": 600}
    first, second = (
        ensure_tiny_model(tmp_path / "a", **settings),
        ensure_tiny_model(tmp_path / "b", **settings),
    )
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert ensure_tiny_model(tmp_path / "a", **settings) == first  # cached: no rebuild
    assert [p.name for p in (tmp_path / "a").iterdir()] == [first.name]  # no staging folder left behind

    tokenizer, model = AutoTokenizer.from_pretrained(first), AutoModelForCausalLM.from_pretrained(first)
    assert len(tokenizer) == 600 and model.config.hidden_size == 32
    messages = [{"role": "user", "content": "Hello there, how are you?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": "Fine."}], tokenize=False
    )
    prompt_ids, full_ids = tokenizer(prompt)["input_ids"], tokenizer(full)["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids and tokenizer.decode(full_ids) == full
    generated = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == len(prompt_ids) + 4 or tokenizer.eos_token_id in generated[0].tolist()
