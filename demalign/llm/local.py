"""Local transformers models: response generation for checkpoints and the `hf` judge.

A checkpoint folder holds either a full model or a PEFT LoRA adapter (`adapter_config.json`); an
adapter is loaded on top of the base model (the `model` group's, else the adapter's recorded base).
Generation is batched with left padding; greedy by default, so answers do not depend on the batch
size. With `do_sample=true` each batch draws from its own seed (`batch_seed`: the run's seed and the
batch's call keys), so the N samples of a prompt are independent draws wherever they fall, and the
same batch on a rerun draws the same; a sampled answer still depends on which calls share its batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from demalign.artifacts import sha256_file
from demalign.errors import ConfigError
from demalign.llm.calls import ChatCall, Completion
from demalign.training.models import load_tokenizer, model_init_kwargs

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"


def model_fingerprint(name_or_path: str | Path) -> str:
    """A short hash of a local model folder's files (names and contents), or of the hub id: part of
    the cache key, so a retrained checkpoint at the same path never reuses old responses."""
    path = Path(name_or_path)
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path)}:{sha256_file(file)}\n".encode())
    else:
        digest.update(str(name_or_path).encode())
    return digest.hexdigest()[:16]


def load_model(path: str | Path, model_cfg: Mapping[str, Any], base_path: str | None) -> tuple[Any, Any]:
    """(model, tokenizer) for a full model folder or hub id, or a LoRA adapter folder over its base."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    kwargs = model_init_kwargs(model_cfg)
    if (path / ADAPTER_CONFIG).is_file():
        from peft import PeftModel

        recorded_base = json.loads((path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
        base = base_path or recorded_base
        if not base:
            raise ConfigError(
                f"{path / ADAPTER_CONFIG}: no base model recorded; set the `model` group to the base"
            )
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, **kwargs), str(path))
        tokenizer_source = str(path) if (path / "tokenizer_config.json").is_file() else base
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
        tokenizer_source = str(path)
    tokenizer = load_tokenizer(model_cfg, tokenizer_source)
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


def batch_seed(seed: int, calls: Sequence[ChatCall]) -> int:
    """The torch seed of one generation batch: a hash of the run's seed and the batch's call keys
    (which hold each call's sample index), so no two different batches share a random stream."""
    canonical = json.dumps([seed, [call.key for call in calls]])
    return int(hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:15], 16)


class TransformersBackend:
    """Batched chat generation with a local model (a `llm.calls.BatchBackend`)."""

    def __init__(
        self,
        path: str | Path,
        model_cfg: Mapping[str, Any],
        base_path: str | None,
        max_new_tokens: int,
        do_sample: bool,
        temperature: float,
        seed: int,
        top_p: float = 1.0,
    ) -> None:
        import torch

        self.model, self.tokenizer = load_model(path, model_cfg, base_path)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        self.generate_kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample}
        if do_sample:
            self.generate_kwargs.update(temperature=temperature, top_p=top_p)
        self.seed = seed

    def complete_batch(self, calls: Sequence[ChatCall]) -> list[Completion]:
        import torch

        prompts = [
            self.tokenizer.apply_chat_template(call.messages, add_generation_prompt=True, tokenize=False)
            for call in calls
        ]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        torch.manual_seed(batch_seed(self.seed, calls))
        with torch.no_grad():
            output = self.model.generate(
                **encoded, pad_token_id=self.tokenizer.pad_token_id, **self.generate_kwargs
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        prompt_lengths = encoded["attention_mask"].sum(dim=1).tolist()
        pad = self.tokenizer.pad_token_id
        return [
            Completion(
                text=text.strip(),
                prompt_tokens=int(prompt_tokens),
                completion_tokens=int((row != pad).sum()),
                cost=0.0,
            )
            for text, prompt_tokens, row in zip(texts, prompt_lengths, new_tokens, strict=True)
        ]
