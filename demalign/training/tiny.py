"""A tiny, offline, deterministic Llama model + byte-level BPE tokenizer with a ChatML template.

`ensure_tiny_model(cache_dir)` builds it on first use (no network: the tokenizer is trained on
docstrings of a fixed list of standard-library modules) and returns a folder that
`AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` load. The folder name is a
hash of every setting, so different sizes live side by side and a settings change never reuses a
stale build. The build happens in a temporary folder renamed into place, so concurrent processes
never see half a model: the first rename wins and the others discard their copy.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from demalign.artifacts import build_directory
from demalign.errors import ConfigError

log = logging.getLogger(__name__)

# Bump when the build recipe changes, so old cache folders are not reused.
RECIPE_VERSION = 3

EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
BOS_TOKEN = "<|im_start|>"

# ChatML. The generation prompt ends with "assistant\n" and an assistant message starts right after
# it, so the tokenised prompt is a prefix of the tokenised prompt+completion (TRL relies on this).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Standard-library modules whose docstrings form the tokenizer corpus: plain English prose that
# ships with Python, so the build needs no download. Fixed order keeps the merges deterministic.
CORPUS_MODULES = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "configparser",
    "contextlib", "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "enum", "fractions",
    "functools", "getopt", "gettext", "heapq", "hmac", "html", "http.client", "imaplib", "inspect",
    "ipaddress", "itertools", "json", "logging", "mailbox", "numbers", "operator", "optparse", "os",
    "pathlib", "pickle", "pprint", "queue", "random", "re", "shlex", "shutil", "smtplib", "socket",
    "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "typing",
    "unittest", "urllib.parse", "uuid", "warnings", "zipfile",
)  # fmt: skip


@dataclass(frozen=True)
class TinyModelSpec:
    """Every setting that determines the built model; all of them are part of the cache key."""

    vocab_size: int = 3000  # BPE target vocabulary (special tokens included)
    hidden_size: int = 64
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    max_position_embeddings: int = 2048
    seed: int = 0  # seeds the random weights
    warmup_steps: int = 0  # language-model steps on the bundled sample's chats (0 = random weights)

    def key(self) -> str:
        """Folder name: readable sizes + a hash of all settings and the recipe version."""
        payload = json.dumps({"recipe": RECIPE_VERSION, **asdict(self)}, sort_keys=True)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
        return f"tiny-llama-h{self.hidden_size}-l{self.num_hidden_layers}-v{self.vocab_size}-{digest}"


def tiny_spec(**overrides: Any) -> TinyModelSpec:
    """A spec with `overrides` applied; an unknown name raises a ConfigError listing the valid ones."""
    valid = {f.name for f in fields(TinyModelSpec)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ConfigError(f"model.tiny: unknown setting(s) {unknown}; valid settings: {sorted(valid)}")
    spec = replace(TinyModelSpec(), **{k: int(v) for k, v in overrides.items()})
    if spec.hidden_size % spec.num_attention_heads or spec.num_attention_heads % spec.num_key_value_heads:
        raise ConfigError(
            f"model.tiny: hidden_size ({spec.hidden_size}) must be divisible by num_attention_heads "
            f"({spec.num_attention_heads}), which must be divisible by num_key_value_heads "
            f"({spec.num_key_value_heads})"
        )
    return spec


def corpus_lines() -> Iterator[str]:
    """Docstring paragraphs of CORPUS_MODULES and their public members, in a fixed order."""
    for module_name in CORPUS_MODULES:
        module = importlib.import_module(module_name)
        # Submodules are skipped: whether `email.message` is an attribute of `email` depends on what
        # else the process imported, and the corpus must not.
        members = [getattr(module, name) for name in sorted(vars(module)) if not name.startswith("_")]
        for obj in [module] + [m for m in members if inspect.isclass(m) or inspect.isroutine(m)]:
            doc = inspect.getdoc(obj)
            if doc:
                yield from (para.strip() for para in doc.split("\n\n") if para.strip())


def build_tokenizer(spec: TinyModelSpec) -> Any:
    """Train a byte-level BPE tokenizer on the local corpus and wrap it with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus_lines(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[BOS_TOKEN],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_model(spec: TinyModelSpec, tokenizer: Any) -> Any:
    """A randomly initialised LlamaForCausalLM sized by `spec`, seeded without touching global RNG."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.convert_tokens_to_ids(BOS_TOKEN),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


WARMUP_BATCH = 16
WARMUP_MAX_TOKENS = 160
WARMUP_LEARNING_RATE = 3e-3


# Every other warm-up chat starts with one of these, so a system message (as evaluation sends) does
# not push the model off the distribution it learned.
WARMUP_SYSTEM_PROMPTS = (
    "You are a helpful, honest and harmless assistant.",
    "You are a helpful assistant.",
    "Answer the user's question thoughtfully.",
)


def warmup_chats(limit: int = 4000) -> list[list[dict[str, str]]]:
    """User prompt + chosen reply pairs of the bundled sample as chat messages (file order); every
    other chat opens with a system message."""
    from demalign.artifacts import iter_jsonl
    from demalign.prism.loading import UTTERANCES_FILE, sample_root

    chats = []
    for row in iter_jsonl(sample_root() / UTTERANCES_FILE):
        if row["if_chosen"]:
            system = WARMUP_SYSTEM_PROMPTS[(len(chats) // 2) % len(WARMUP_SYSTEM_PROMPTS)]
            chat = [] if len(chats) % 2 else [{"role": "system", "content": system}]
            chat += [
                {"role": "user", "content": row["user_prompt"]},
                {"role": "assistant", "content": row["model_response"]},
            ]
            chats.append(chat)
            if len(chats) == limit:
                break
    return chats


def warm_up(model: Any, tokenizer: Any, spec: TinyModelSpec) -> None:
    """A short causal-LM warm-up on the sample's chats, so the offline model answers in English
    and ends its turn instead of emitting random tokens (greedy decoding of random weights stops at
    once). Seeded and single-threaded, so the same spec gives the same weights."""
    import torch
    from tqdm.auto import tqdm

    texts = [tokenizer.apply_chat_template(chat, tokenize=False) for chat in warmup_chats()]
    encoded = tokenizer(
        texts, truncation=True, max_length=WARMUP_MAX_TOKENS, padding=True, return_tensors="pt"
    )
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=WARMUP_LEARNING_RATE)
    generator = torch.Generator().manual_seed(spec.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model.train()
    try:
        for _ in tqdm(range(spec.warmup_steps), desc="tiny model warm-up", leave=False):
            batch = torch.randint(len(texts), (WARMUP_BATCH,), generator=generator)
            loss = model(
                input_ids=encoded["input_ids"][batch],
                attention_mask=encoded["attention_mask"][batch],
                labels=labels[batch],
            ).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    finally:
        torch.set_num_threads(threads)
        model.eval()
    log.info("tiny model warm-up: %d steps, final loss %.3f", spec.warmup_steps, float(loss.detach()))


def ensure_tiny_model(cache_dir: Path | str, **overrides: Any) -> Path:
    """Return the folder of the tiny model for these settings, building it first if needed.

    `overrides` are TinyModelSpec fields (hidden_size=128, ...). The folder holds model weights,
    config, tokenizer and chat template, all loadable with `from_pretrained`.
    """
    spec = tiny_spec(**overrides)

    def build(staging: Path) -> None:
        log.info("building tiny model %s (first use; no network)", spec.key())
        tokenizer = build_tokenizer(spec)
        model = build_model(spec, tokenizer)
        if spec.warmup_steps:
            warm_up(model, tokenizer, spec)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2, sort_keys=True) + "\n")

    return build_directory(Path(cache_dir) / spec.key(), build)
