"""SFT on a real tiny model: prompt tokens never carry a label (the seed's prompt-leak bug), weighted
SFT equals stock TRL at unit weights, weight 2 equals duplication, zero weight equals removal, the
token-weighted normalisation, the loss-mask config guards and the marked chat templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

from demalign.errors import ConfigError, DataError
from demalign.training.models import FALLBACK_CHAT_TEMPLATE
from demalign.training.sft import (
    TRAINING_TEMPLATES,
    WeightedSFTTrainer,
    ensure_assistant_masks,
    load_sft_rows,
    loss_mask_settings,
    sft_trainer_class,
    token_normalize_weights,
)
from demalign.training.synthetic import synthetic_sft_rows
from demalign.training.tiny import CHATML_TEMPLATE
from tests.unit.test_training_weighted import CACHE, max_grad_diff

torch.set_num_threads(1)
UPGRADE_HINT = "TRL's SFT loss no longer matches demalign.training.sft.WeightedSFTTrainer.compute_loss"
# (format, chat): conversational `messages`; prompt/completion as message lists; as plain strings.
FORMATS = [("messages", True), ("prompt_completion", True), ("prompt_completion", False)]
FORMAT_IDS = ["messages", "pc-chat", "pc-raw"]


@pytest.fixture(scope="module")
def tiny_path() -> str:
    from demalign.training.tiny import ensure_tiny_model

    return str(ensure_tiny_model(CACHE))


def rows_of(
    n: int, fmt: str = "messages", chat: bool = True, weights: list[float] | None = None, seed: int = 3
):
    rows = synthetic_sft_rows(n, seed=seed, fmt=fmt, chat=chat)
    return rows if weights is None else [dict(r, weight=w) for r, w in zip(rows, weights, strict=True)]


def make_trainer(cls, path: str, rows: list[dict], tmp: Path, **config) -> SFTTrainer:
    peft_config = config.pop("peft_config", None)
    fmt = "messages" if "messages" in rows[0] else "prompt_completion"
    tokenizer = AutoTokenizer.from_pretrained(path)
    if fmt == "messages":
        ensure_assistant_masks(tokenizer, "tiny", {})
    args = SFTConfig(
        output_dir=str(tmp), per_device_train_batch_size=len(rows), report_to="none", bf16=False,
        gradient_checkpointing=False, use_cpu=True, max_length=128, completion_only_loss=True,
        assistant_only_loss=fmt == "messages", **config,
    )  # fmt: skip
    return cls(model=path, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
               peft_config=peft_config)  # fmt: skip


def loss_and_grads(cls, path: str, rows: list[dict], tmp: Path, **config) -> tuple[float, dict, SFTTrainer]:
    """One full-batch loss + gradients, in dataset order (TRL does not shuffle at preparation)."""
    trainer = make_trainer(cls, path, rows, tmp, **config)
    trainer.model.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.item(), grads, trainer


# ---- the prompt-leak guard -----------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True], ids=["stock", "weighted"])
@pytest.mark.parametrize(("fmt", "chat"), FORMATS, ids=FORMAT_IDS)
def test_prompt_leak_bug_prompt_system_and_user_tokens_never_carry_a_label(
    tiny_path: str, tmp_path: Path, fmt: str, chat: bool, weighted: bool
) -> None:
    """The seed's prompt-leak bug: its SFT targets contained the prompt. Here every label ≠ -100 is a
    token of the assistant's reply (and its end of turn); every prompt, system and user token is -100."""
    rows = rows_of(3, fmt, chat, weights=[1.0, 2.0, 1.0] if weighted else None)
    trainer = make_trainer(sft_trainer_class(weighted), tiny_path, rows, tmp_path)
    tokenizer = trainer.processing_class
    for row, example in zip(rows, trainer.train_dataset, strict=True):
        ids, labels = example["input_ids"], example["labels"]
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert all(label != -100 for label in labels[first:]), "the labelled span is one contiguous reply"
        assert [label for label in labels[first:]] == ids[first:]
        reply = row["messages"][-1]["content"] if fmt == "messages" else row["completion"]
        reply = reply[0]["content"] if isinstance(reply, list) else reply
        end = "<|im_end|>\n" if chat else "<|im_end|>"
        assert tokenizer.decode(ids[first:]) == reply + end
        prompt_text = tokenizer.decode(ids[:first])
        assert "Could you tell me something about" in prompt_text and reply not in prompt_text


def test_multi_turn_messages_label_every_assistant_turn_and_nothing_else(
    tiny_path: str, tmp_path: Path
) -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"},
        {"role": "assistant", "content": "Green."},
    ]
    trainer = make_trainer(SFTTrainer, tiny_path, [{"messages": conversation}], tmp_path)
    example = trainer.train_dataset[0]
    labelled = [
        i if label != -100 else None for i, label in zip(example["input_ids"], example["labels"], strict=True)
    ]
    spans, current = [], []
    for token in [*labelled, None]:
        if token is None and current:
            spans.append(trainer.processing_class.decode(current))
            current = []
        elif token is not None:
            current.append(token)
    assert spans == ["Blue.<|im_end|>\n", "Green.<|im_end|>\n"]


def test_settings_that_would_train_on_the_prompt_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.completion_only_loss=false.*prompt-leak"):
        loss_mask_settings({"completion_only_loss": False}, "prompt_completion")
    with pytest.raises(ConfigError, match=r"trainer\.assistant_only_loss=false.*system/user"):
        loss_mask_settings({"assistant_only_loss": False}, "messages")
    assert loss_mask_settings({"assistant_only_loss": None}, "messages")["assistant_only_loss"] is True
    resolved = loss_mask_settings(
        {"completion_only_loss": None, "assistant_only_loss": None}, "prompt_completion"
    )
    assert resolved["completion_only_loss"] is True and resolved["assistant_only_loss"] is False


@pytest.mark.parametrize("template", [CHATML_TEMPLATE, FALLBACK_CHAT_TEMPLATE], ids=["chatml", "fallback"])
def test_marked_templates_render_exactly_like_the_originals(tiny_path: str, template: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    conversation = [{"role": "system", "content": "S."}, {"role": "user", "content": "U?"},
                    {"role": "assistant", "content": "A."}, {"role": "user", "content": "V?"}]  # fmt: skip
    for generation_prompt in (False, True):
        rendered = [
            tokenizer.apply_chat_template(
                conversation, chat_template=t, tokenize=False, add_generation_prompt=generation_prompt
            )
            for t in (template, TRAINING_TEMPLATES[template])
        ]
        assert rendered[0] == rendered[1]


def test_a_template_nobody_can_mark_is_a_config_error(tiny_path: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ConfigError, match="chat_template_path"):
        ensure_assistant_masks(tokenizer, "odd-model", {})
    assert ensure_assistant_masks(tokenizer, "odd-model", {"chat_template_path": "t.jinja"}) is None


# ---- weights ---------------------------------------------------------------------------------------------


def test_token_normalize_weights_worked_example() -> None:
    """Weights (2, 1, 1), token counts (10, 20, 30): Σw·n = 70, Σn = 60 → (12/7, 6/7, 6/7); ones stay 1."""
    assert token_normalize_weights([2, 1, 1], [10, 20, 30], "x") == pytest.approx([12 / 7, 6 / 7, 6 / 7])
    assert token_normalize_weights([1.0, 1.0, 1.0], [7, 3, 11], "x") == [1.0, 1.0, 1.0]
    with pytest.raises(DataError, match="train split"):
        token_normalize_weights([1.0, -1.0], [3, 4], "train split")
    with pytest.raises(DataError, match="no completion tokens"):
        token_normalize_weights([1.0, 0.0], [0, 4], "x")


@pytest.mark.parametrize(
    ("fmt", "chat", "config"),
    [("messages", True, {}), ("prompt_completion", True, {}), ("prompt_completion", False, {}),
     ("messages", True, {"loss_type": "dft"}), ("messages", True, {"lora": True})],
    ids=["messages", "pc-chat", "pc-raw", "dft", "lora"],
)  # fmt: skip
def test_unit_weights_reproduce_stock_trl_exactly(
    tiny_path: str, tmp_path: Path, fmt: str, chat: bool, config: dict
) -> None:
    config = dict(config)
    if config.pop("lora", False):
        from peft import LoraConfig

        config["peft_config"] = LoraConfig(
            r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    rows = rows_of(4, fmt, chat)
    stock_loss, stock_grads, _ = loss_and_grads(SFTTrainer, tiny_path, rows, tmp_path, **dict(config))
    ours_loss, ours_grads, ours = loss_and_grads(
        WeightedSFTTrainer, tiny_path, [dict(r, weight=1.0) for r in rows], tmp_path, **dict(config)
    )
    assert ours.train_dataset["weight"] == [1.0] * 4
    assert stock_loss > 0
    assert ours_loss == stock_loss, UPGRADE_HINT
    assert max_grad_diff(ours_grads, stock_grads) == 0.0, UPGRADE_HINT


def test_weight_two_equals_duplicating_the_example(tiny_path: str, tmp_path: Path) -> None:
    """Raw weights (2, 1, 1) on (a, b, c) with label-token counts (na, nb, nc) are rescaled by
    (na+nb+nc)/(2na+nb+nc); the loss (2La + Lb + Lc)/(2na+nb+nc) is stock TRL's token mean on (a, a, b, c)."""
    a, b, c = rows_of(3, "prompt_completion", chat=False)
    c = dict(c, completion=c["completion"] + " One more point, stated at some length.")
    loss, grads, ours = loss_and_grads(
        WeightedSFTTrainer,
        tiny_path,
        [dict(a, weight=2.0), dict(b, weight=1.0), dict(c, weight=1.0)],
        tmp_path,
    )
    counts = [sum(1 for label in labels[1:] if label != -100) for labels in ours.train_dataset["labels"]]
    assert len(set(counts)) > 1  # unequal lengths: a plain mean-1 rescaling would not match
    scale = sum(counts) / (2 * counts[0] + counts[1] + counts[2])
    assert ours.train_dataset["weight"] == pytest.approx([2 * scale, scale, scale])
    dup_loss, dup_grads, _ = loss_and_grads(SFTTrainer, tiny_path, [a, a, b, c], tmp_path)
    assert loss == pytest.approx(dup_loss, rel=1e-6)
    assert max_grad_diff(grads, dup_grads) < 1e-6


def test_zero_weight_equals_leaving_the_example_out(tiny_path: str, tmp_path: Path) -> None:
    rows = rows_of(4)
    loss, grads, _ = loss_and_grads(
        WeightedSFTTrainer,
        tiny_path,
        [dict(r, weight=w) for r, w in zip(rows, [0, 1, 1, 1], strict=True)],
        tmp_path,
    )
    stock_loss, stock_grads, _ = loss_and_grads(SFTTrainer, tiny_path, rows[1:], tmp_path)
    assert loss == pytest.approx(stock_loss, rel=1e-6)
    assert max_grad_diff(grads, stock_grads) < 1e-6


def test_weights_with_packing_are_a_config_error(tiny_path: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trainer\.packing"):
        make_trainer(WeightedSFTTrainer, tiny_path, rows_of(2, weights=[1.0, 2.0]), tmp_path, packing=True)


# ---- rows --------------------------------------------------------------------------------------------------


def test_load_sft_rows_formats_and_errors(tmp_path: Path) -> None:
    from demalign.artifacts import write_jsonl

    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [dict(r, id=i) for i, r in enumerate(rows_of(2, weights=[1.0, 2.0]))])
    rows, fmt = load_sft_rows(path)
    assert fmt == "messages" and set(rows[0]) == {"messages", "weight"}
    write_jsonl(path, rows_of(2, "prompt_completion", chat=False))
    assert load_sft_rows(path)[1] == "prompt_completion"

    bad = {
        "mixed formats": ([rows_of(1)[0], rows_of(1, "prompt_completion")[0]], r"rows\.jsonl:2: a prompt_completion row"),
        "neither": ([{"text": "hi"}], r"rows\.jsonl:1: an SFT row needs `messages` or `prompt` \+ `completion` \(found: text\)"),
        "no assistant": ([{"messages": [{"role": "user", "content": "hi"}]}], "no assistant turn"),
        "weight all-or-none": ([dict(rows_of(1)[0], weight=1.0), rows_of(1)[0]], "1 of 2 rows have a weight"),
        "bad role": ([{"messages": [{"role": "bot", "content": "x"}]}], "role in"),
    }  # fmt: skip
    for name, (content, message) in bad.items():
        write_jsonl(path, content)
        with pytest.raises(DataError, match=message):
            load_sft_rows(path)
        assert name


def test_kto_rows_are_recognised_and_checked(tmp_path: Path) -> None:
    from demalign.artifacts import write_jsonl

    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"prompt": "Q?", "completion": "A.", "label": True, "id": 1},
                       {"prompt": "Q?", "completion": "No.", "label": False}])  # fmt: skip
    rows, fmt = load_sft_rows(path)
    assert fmt == "kto" and rows[0] == {"prompt": "Q?", "completion": "A.", "label": True}
    write_jsonl(path, [{"prompt": "Q?", "completion": "A.", "label": "good"}])
    with pytest.raises(DataError, match=r"rows\.jsonl:1: label must be true or false"):
        load_sft_rows(path)
    write_jsonl(path, [{"prompt": "Q?", "completion": "A.", "label": True, "weight": 2.0}])
    with pytest.raises(DataError, match="desirable_weight"):
        load_sft_rows(path)


def test_unit_weights_train_exactly_like_stock_through_the_trainer_loop(
    tiny_path: str, tmp_path: Path
) -> None:
    """The full Trainer path (column pruning, collator, gradient accumulation with TRL's token count across
    micro-batches): 2 optimizer steps of 2 × 2 rows end with bit-identical weights."""
    rows = rows_of(8)
    params = {}
    for name, cls, data in (
        ("stock", SFTTrainer, rows),
        ("ours", WeightedSFTTrainer, [dict(r, weight=1.0) for r in rows]),
    ):
        trainer = make_trainer(cls, tiny_path, data, tmp_path / name, gradient_accumulation_steps=2,
                               max_steps=2, learning_rate=1e-3, logging_steps=1, save_strategy="no")  # fmt: skip
        trainer.args.per_device_train_batch_size = 2
        trainer.train()
        params[name] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    assert max_grad_diff(params["ours"], params["stock"]) == 0.0, UPGRADE_HINT
