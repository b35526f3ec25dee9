"""Supervised fine-tuning with TRL's `SFTTrainer`: completion-only loss, LoRA or full, per-example weights.

Rows (one format per file, see `load_sft_rows`):

- `messages`: a conversation `[{role, content}, ...]` with system/user/assistant turns. The loss is on
  the assistant turns only (TRL's `assistant_only_loss`, which needs `{% generation %}` markers in the
  chat template: TRL patches the templates it knows, and demalign supplies marked copies of its own
  two templates, the tiny model's ChatML and the `User:/Assistant:` fallback, rendering the same text).
- `prompt` + `completion`: strings, or message lists (conversational). The loss is on the completion
  only (TRL's `completion_only_loss`).

Prompt, system and user tokens never carry a label (-100), whatever the trainer config says: setting
`completion_only_loss: false`, or `assistant_only_loss: false` for `messages` rows, is a ConfigError.
That was the seed tool's bug: it trained on "Instruction: ... Response: ..." as one text, and its
candidates were decoded with the prompt included, so the prompt was in every SFT target.

Per-example weights (a `weight` column, DART's repair oversampling). TRL's SFT loss is a token mean:
Σ_t ℓ_t / N over the label tokens of the (accumulated) batch. `WeightedSFTTrainer` multiplies every
token of example i by w_i and keeps TRL's denominator N (the unweighted label-token count, as TRL
counts it across gradient-accumulation steps and devices): loss = Σ_i w_i·L_i / N, with L_i the summed
token loss of example i. Weights are rescaled per split so that their *token-weighted* mean is 1
(Σ_i w_i·n_i = Σ_i n_i, n_i = example i's label tokens, counted after TRL's tokenisation and
truncation; `token_normalize_weights`). This is weighted DPO's rule with the token as the unit
(for DPO the unit is the pair and the rescaling is to a plain mean of 1), and it gives:

- all weights 1 → exactly stock TRL's loss and gradients (`tests/unit/test_training_sft.py` guards it);
- weight k on an example ≡ the example appearing k times: the split's weighted loss
  Σ w_i L_i / Σ n_i equals stock TRL's token mean on the duplicated split, and on one full batch the two
  losses are equal (worked test: raw weights (2, 1, 1) vs the batch (a, a, b, c));
- with batch size 1 the weights still act (a per-batch ratio Σ w L / Σ w n would cancel them, which is
  DART's released bug in another form), and the plain sum over the batch is an unbiased estimate of
  the split-level weighted loss across micro-batches, accumulation steps and ranks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from trl import SFTTrainer

from demalign.artifacts import numbered_jsonl
from demalign.errors import ConfigError, DataError
from demalign.training.config import build_sft_config, to_dict
from demalign.training.models import (
    FALLBACK_CHAT_TEMPLATE,
    load_tokenizer,
    model_init_kwargs,
    resolve_name_or_path,
)
from demalign.training.runner import TrainResult, fit_and_save
from demalign.training.tiny import CHATML_TEMPLATE
from demalign.training.weighted_dpo import WEIGHT_COLUMN, WeightCollator, normalize_weights

log = logging.getLogger(__name__)

MESSAGES = "messages"
PROMPT_COMPLETION = "prompt_completion"
KTO = "kto"  # prompt, completion, label: trained with KTO (demalign.training.kto), not SFT
ROLES = ("system", "user", "assistant")
# Keys of the Trainer's log history that the SFT report plots (train and eval_ variants).
SFT_CURVE_KEYS = ("loss", "mean_token_accuracy", "entropy")

# Demalign's own chat templates with `{% generation %}` around each assistant turn's text and end of
# turn (the same rendering; the markers only tell transformers which characters are the assistant's).
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' + '\n' }}{% endgeneration %}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
FALLBACK_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ 'System: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant:' }}{% generation %}{{ ' ' + message['content'] + eos_token + '\n' }}{% endgeneration %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
TRAINING_TEMPLATES = {
    CHATML_TEMPLATE: CHATML_TRAINING_TEMPLATE,
    FALLBACK_CHAT_TEMPLATE: FALLBACK_TRAINING_TEMPLATE,
}


# ---- rows --------------------------------------------------------------------------------------------


def _check_messages(value: Any, where: str, *, need_assistant: bool) -> None:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected a non-empty list of {{role, content}} messages")
    for k, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(f"{where}: message {k} must be {{role, content}} with role in {list(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise DataError(f"{where}: message {k} ({message['role']}) has no string content")
    if need_assistant and not any(m["role"] == "assistant" for m in value):
        raise DataError(f"{where}: no assistant turn, so nothing to train on")


def row_format(row: dict[str, Any]) -> str | None:
    """`messages`, `prompt_completion`, `kto` (prompt, completion and label), or None for none of them."""
    if MESSAGES in row:
        return MESSAGES
    if "prompt" in row and "completion" in row:
        return KTO if "label" in row else PROMPT_COMPLETION
    return None


def load_sft_rows(path: Path | str) -> tuple[list[dict[str, Any]], str]:
    """The rows of an SFT JSONL file and their format (`messages`, `prompt_completion`, or `kto` for
    unpaired `prompt, completion, label` rows, which train with KTO).

    Only the columns TRL needs are kept (plus `weight`, all-or-none; not for KTO). Every row must have the first
    row's format, and prompt/completion are both strings or both message lists (completion: assistant
    turns only). A bad row raises a DataError naming file and line.
    """
    rows: list[dict[str, Any]] = []
    fmt: str | None = None
    chat: bool | None = None
    for lineno, row in numbered_jsonl(Path(path)):
        where = f"{path}:{lineno}"
        this = row_format(row)
        if this is None:
            raise DataError(
                f"{where}: an SFT row needs `messages` or `prompt` + `completion` (found: {', '.join(sorted(row))})"
            )
        if fmt is None:
            fmt = this
        elif this != fmt:
            raise DataError(f"{where}: a {this} row in a file of {fmt} rows; use one format per file")
        if fmt == MESSAGES:
            _check_messages(row[MESSAGES], where, need_assistant=True)
            keep = {MESSAGES: row[MESSAGES]}
        else:
            is_chat = isinstance(row["prompt"], list)
            if chat is None:
                chat = is_chat
            if is_chat != chat or isinstance(row["completion"], list) != chat:
                raise DataError(
                    f"{where}: prompt/completion mix message lists and plain strings; use one kind per file"
                )
            if chat:
                _check_messages(row["prompt"], f"{where} prompt", need_assistant=False)
                _check_messages(row["completion"], f"{where} completion", need_assistant=True)
                if any(m["role"] != "assistant" for m in row["completion"]):
                    raise DataError(f"{where}: completion messages must all be assistant turns")
            elif not isinstance(row["prompt"], str) or not isinstance(row["completion"], str):
                raise DataError(f"{where}: prompt and completion must be strings or message lists")
            keep = {"prompt": row["prompt"], "completion": row["completion"]}
            if fmt == KTO:
                if not isinstance(row["label"], bool):
                    raise DataError(f"{where}: label must be true or false, got {row['label']!r}")
                if WEIGHT_COLUMN in row:
                    raise DataError(
                        f"{where}: KTO rows take no weight; use trainer.desirable_weight / trainer.undesirable_weight"
                    )
                keep["label"] = row["label"]
        if WEIGHT_COLUMN in row:
            keep[WEIGHT_COLUMN] = row[WEIGHT_COLUMN]
        rows.append(keep)
    if not rows or fmt is None:
        raise DataError(f"{path}: no SFT rows; point sft.dataset at a non-empty file")
    with_weight = sum(WEIGHT_COLUMN in row for row in rows)
    if with_weight not in (0, len(rows)):
        missing = next(i for i, row in enumerate(rows, start=1) if WEIGHT_COLUMN not in row)
        raise DataError(f"{path}: {with_weight} of {len(rows)} rows have a weight; row {missing} has none")
    return rows, fmt


def rows_format(rows: Sequence[dict[str, Any]]) -> str:
    fmt = row_format(rows[0]) if rows else None
    if fmt is None:
        raise DataError("SFT rows need `messages` or `prompt` + `completion`")
    return fmt


# ---- config ------------------------------------------------------------------------------------------


def loss_mask_settings(trainer_cfg: Any, fmt: str) -> dict[str, Any]:
    """The trainer config with the loss-mask keys resolved for rows of format `fmt`.

    `completion_only_loss` must be true or null (→ true); `assistant_only_loss` null means true for
    `messages` rows and false for prompt/completion rows. A setting that would put prompt tokens in the
    loss is a ConfigError naming the key.
    """
    settings = to_dict(trainer_cfg)
    if settings.get("completion_only_loss") is False:
        raise ConfigError(
            "trainer.completion_only_loss=false would train on prompt tokens (the seed's prompt-leak bug); "
            "demalign's SFT always masks the prompt: remove the key or set it to true"
        )
    settings["completion_only_loss"] = True
    assistant_only = settings.get("assistant_only_loss")
    if fmt == MESSAGES:
        if assistant_only is False:
            raise ConfigError(
                "trainer.assistant_only_loss=false with `messages` rows would train on system/user tokens "
                "(the seed's prompt-leak bug): remove the key or set it to true"
            )
        settings["assistant_only_loss"] = True
    elif assistant_only is None:
        settings["assistant_only_loss"] = False
    return settings


def ensure_assistant_masks(tokenizer: Any, name: str, trainer_settings: dict[str, Any]) -> str | None:
    """Make the tokenizer's chat template mark assistant turns for `assistant_only_loss`.

    Returns the original template when it was swapped for demalign's marked copy (restore it before
    saving), else None. A template TRL can patch is left to TRL; one nobody can patch is a ConfigError.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if trainer_settings.get("chat_template_path"):
        return None  # TRL loads the given template
    template = tokenizer.chat_template
    if isinstance(template, str) and has_generation_markers(template):
        return None
    if template in TRAINING_TEMPLATES:
        tokenizer.chat_template = TRAINING_TEMPLATES[template]
        return template
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        raise ConfigError(
            f"model {name}: its chat template has no {{% generation %}} markers and TRL cannot patch it, so "
            "the assistant turns of `messages` rows cannot be told apart; set trainer.chat_template_path to a "
            ".jinja template with the markers, or write prompt/completion rows"
        ) from None
    return None


# ---- weighted trainer ----------------------------------------------------------------------------------


def label_token_counts(dataset: Any) -> list[int]:
    """Tokens that carry a loss per prepared example: labels ≠ -100 after the first position (the
    fused LM head scores labels[1:], as TRL's num_items_in_batch counts them)."""
    return [sum(1 for label in labels[1:] if label != -100) for labels in dataset["labels"]]


def token_normalize_weights(weights: Sequence[float], counts: Sequence[int], where: str) -> list[float]:
    """Rescale weights so that Σ w_i·n_i = Σ n_i (token-weighted mean 1).

    Example: weights (2, 1, 1), token counts (10, 20, 30): Σ w·n = 70, Σ n = 60 → (12/7, 6/7, 6/7).
    All ones stay exactly 1. Bad weights raise a DataError naming `where` (see `normalize_weights`).
    """
    values = normalize_weights(weights, where)
    weighted = sum(w * n for w, n in zip(values, counts, strict=True))
    if weighted <= 0:
        raise DataError(f"{where}: every example with a nonzero weight has no completion tokens")
    scale = sum(counts) / weighted
    return [w * scale for w in values]


def _renormalized(dataset: Any, where: str) -> Any:
    weights = token_normalize_weights(dataset[WEIGHT_COLUMN], label_token_counts(dataset), where)
    return dataset.remove_columns(WEIGHT_COLUMN).add_column(WEIGHT_COLUMN, weights)


def check_sft_supported(args: Any) -> None:
    """ConfigError for SFTConfig settings whose loss the weighted trainer does not reproduce."""
    problems = []
    if args.packing or args.padding_free:
        problems.append(
            "trainer.packing / trainer.padding_free (examples share a row, so a row has no single weight)"
        )
    if args.label_smoothing_factor:
        problems.append("trainer.label_smoothing_factor (must be 0)")
    if args.loss_type not in ("nll", "dft"):
        problems.append(f"trainer.loss_type={args.loss_type!r} (nll or dft)")
    if problems:
        raise ConfigError(
            "the dataset has a weight column, and weighted SFT does not support: "
            + "; ".join(problems)
            + ". Change these keys, or drop the weight column to train with stock TRL."
        )


class WeightedSFTTrainer(SFTTrainer):
    """`trl.SFTTrainer` whose loss is Σ_i w_i·L_i / N (module docstring) with w from the `weight` column.

    Weights are rescaled to a token-weighted mean of 1 per split after TRL has tokenised the data.
    Logged `entropy` and `mean_token_accuracy` are token-weighted by w as well.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        sft_args = kwargs.get("args")
        if sft_args is not None:
            check_sft_supported(sft_args)
        if kwargs.get("compute_loss_func") is not None:
            raise ConfigError("weighted SFT computes its own loss; compute_loss_func is not supported")
        super().__init__(*args, **kwargs)
        check_sft_supported(self.args)
        if self.aux_loss_enabled:
            raise ConfigError(
                "weighted SFT does not weight a Mixture-of-Experts auxiliary loss (set trainer.router_aux_loss_coef=0)"
            )
        self.train_dataset = _renormalized(self.train_dataset, "train split")
        if isinstance(self.eval_dataset, dict):
            self.eval_dataset = {k: _renormalized(v, f"eval split {k}") for k, v in self.eval_dataset.items()}
        elif self.eval_dataset is not None:
            self.eval_dataset = _renormalized(self.eval_dataset, "eval split")
        self.data_collator = WeightCollator(self.data_collator)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if WEIGHT_COLUMN not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, WEIGHT_COLUMN]

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        # TRL's SFTTrainer.compute_loss (plain nll/dft branch) with every token of example i times w_i.
        mode = "train" if self.model.training else "eval"
        parallelism = getattr(self.accelerator, "parallelism_config", None)
        if parallelism is not None and getattr(parallelism, "sp_enabled", False):
            raise ConfigError("weighted SFT does not support sequence parallelism")
        inputs = dict(inputs)
        weights = inputs.pop(WEIGHT_COLUMN)
        inputs["use_cache"] = False
        outputs = model(**inputs, fused_lm_head=True)
        token_weights = weights.to(outputs.log_probs.device, outputs.log_probs.dtype)[:, None]
        per_token_loss = -outputs.log_probs
        if self.args.loss_type == "dft":
            per_token_loss = per_token_loss * outputs.log_probs.exp().detach()
        per_token_loss = per_token_loss * token_weights
        num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = per_token_loss.sum() / torch.as_tensor(num_tokens).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())

        mask_weights = (outputs.label_mask * token_weights).detach()
        gather = self.accelerator.gather_for_metrics
        valid = gather(mask_weights.sum()).sum()
        entropy = gather((outputs.entropy.detach() * mask_weights).sum()).sum()
        correct = gather((outputs.is_top1 * mask_weights).sum()).sum()
        self._metrics[mode]["entropy"].append((entropy / valid).item() if valid > 0 else 0.0)
        self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
        if mode == "train":
            tokens = gather(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        if return_outputs:
            with torch.no_grad():
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            return loss, outputs
        return loss


def sft_trainer_class(has_weights: bool) -> type[SFTTrainer]:
    """WeightedSFTTrainer for a dataset with a weight column, stock SFTTrainer otherwise (logged)."""
    if not has_weights:
        log.info("dataset has no %r column: training unweighted with stock trl.SFTTrainer", WEIGHT_COLUMN)
        return SFTTrainer
    return WeightedSFTTrainer


# ---- one run -----------------------------------------------------------------------------------------


def train_sft(
    model_cfg: Any,
    trainer_cfg: Any,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    *,
    work_dir: Path,
    checkpoint_dir: Path,
    cache_dir: Path | str,
    run_name: str | None = None,
    resume_from_checkpoint: str | None = None,
    init_adapter: str | None = None,
) -> TrainResult:
    """SFT with a completion-only loss; saves the model (or LoRA adapter) + tokenizer into `checkpoint_dir`.

    `work_dir` holds the Trainer's intermediate `checkpoint-N/` folders (for resuming). Rows with a
    `weight` column train with WeightedSFTTrainer (module docstring for the weighting). `init_adapter`:
    a LoRA adapter folder of this base model whose training continues (DART-H starts from DART's
    adapter); the trainer's `peft` settings are then unused, the adapter keeps its own.
    """
    fmt = rows_format(train_rows)
    settings = loss_mask_settings(trainer_cfg, fmt)
    name_or_path = resolve_name_or_path(model_cfg, cache_dir)
    tokenizer = load_tokenizer(model_cfg, name_or_path)
    original_template = None
    if settings["assistant_only_loss"]:
        original_template = ensure_assistant_masks(
            tokenizer, str(model_cfg.get("name", name_or_path)), settings
        )
    args = build_sft_config(settings, model_cfg, work_dir, has_eval=bool(eval_rows), run_name=run_name)

    def restore_template() -> None:  # the checkpoint keeps the model's own template
        if original_template is not None:
            tokenizer.chat_template = original_template

    model = adapter_model(model_cfg, name_or_path, init_adapter) if init_adapter else None
    return fit_and_save(
        sft_trainer_class, name_or_path, tokenizer, args, trainer_cfg, train_rows, eval_rows,
        checkpoint_dir=checkpoint_dir, resume_from_checkpoint=resume_from_checkpoint, before_save=restore_template,
        model=model,
    )  # fmt: skip


def adapter_model(model_cfg: Any, name_or_path: str, adapter: str) -> Any:
    """The base model with the LoRA adapter in `adapter` loaded trainable (a ConfigError when the
    folder holds no adapter)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise ConfigError(
            f"sft.init_adapter={adapter}: no adapter_config.json there; give a LoRA adapter folder (a full "
            "checkpoint is continued by pointing model.name_or_path at it instead)"
        )
    base = AutoModelForCausalLM.from_pretrained(name_or_path, **model_init_kwargs(model_cfg))
    return PeftModel.from_pretrained(base, adapter, is_trainable=True)
