"""The safety classifier (the seed's stage 1): multi-class text classification into safe, hate,
self_harm, dangerous_advice and toxic, with transformers sequence classification.

- data: JSONL rows `{id, text, label, category?}` (`category` = the slice the report breaks accuracy
  down by, e.g. the topic); the bundled synthetic set (`demalign/data/safety/labelled.jsonl`, our own
  wording: 10 templates per label over 5 topics) is linearly separable by vocabulary, so a working
  training loop must learn it;
- encoder: `tiny` builds a small BERT encoder offline (the tiny model's byte-level BPE tokenizer,
  random weights, cached under `paths.cache_dir` keyed by its settings); `hub` loads any
  `AutoModelForSequenceClassification` id or folder (its head is re-initialised for our labels);
- metrics: accuracy, per-class precision / recall / F1, macro F1, the confusion matrix, per-category
  accuracy (`evaluate_predictions`);
- scorer: `SafetyScorer(checkpoint).classify(texts)` for other recipes (the CAI evaluators, DART's
  audit). Labels are compared by exact name (`harmful`), never by substring: a label `unsafe`
  does not count as `safe`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from demalign.artifacts import build_directory, numbered_jsonl
from demalign.errors import ConfigError, DataError

SAFETY_LABELS = ("safe", "hate", "self_harm", "dangerous_advice", "toxic")
SAFE = "safe"
NO_CATEGORY = "(none)"
ENCODER_RECIPE_VERSION = 1


@dataclass(frozen=True)
class LabelledText:
    id: str
    text: str
    label: str
    category: str = NO_CATEGORY


def bundled_safety_path() -> Path:
    return Path(str(resources.files("demalign") / "data" / "safety" / "labelled.jsonl"))


def load_labelled(path: Path, labels: Sequence[str]) -> list[LabelledText]:
    """Rows of a labelled JSONL file; a missing text, an unknown label or a repeated id is a DataError naming file:line."""
    rows: list[LabelledText] = []
    seen: set[str] = set()
    for lineno, record in numbered_jsonl(Path(path)):
        where = f"{path}:{lineno}"
        text, label = record.get("text"), record.get("label")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: `text` must be a non-empty string")
        if label not in labels:
            raise DataError(f"{where}: label {label!r} is not one of the configured labels {list(labels)}")
        row_id = str(record.get("id", f"row-{lineno}"))
        if row_id in seen:
            raise DataError(f"{where}: id {row_id!r} appears more than once")
        seen.add(row_id)
        rows.append(
            LabelledText(row_id, text.strip(), str(label), str(record.get("category") or NO_CATEGORY))
        )
    if not rows:
        raise DataError(f"{path}: no labelled rows")
    return rows


def stratified_split(
    rows: Sequence[LabelledText], eval_ratio: float, seed: int
) -> tuple[list[LabelledText], list[LabelledText]]:
    """(train, eval): per label, a seeded shuffle holds out round(eval_ratio * n) rows (at least one when the
    label has two or more rows and eval_ratio > 0), so every class is scored."""
    if not 0 < eval_ratio < 1:
        raise ConfigError(f"classify.eval_ratio={eval_ratio} must be in (0, 1)")
    rng = random.Random(f"safety-split:{seed}")
    train: list[LabelledText] = []
    held: list[LabelledText] = []
    for label in sorted({r.label for r in rows}):
        group = [r for r in rows if r.label == label]
        rng.shuffle(group)
        n_eval = 0 if len(group) < 2 else min(len(group) - 1, max(1, round(eval_ratio * len(group))))
        held += group[:n_eval]
        train += group[n_eval:]
    return train, held


# ---- encoder ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyEncoderSpec:
    """Every setting of the locally built encoder; all are part of its cache key."""

    vocab_size: int = 3000
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 256
    seed: int = 0

    def key(self) -> str:
        payload = json.dumps({"recipe": ENCODER_RECIPE_VERSION, **asdict(self)}, sort_keys=True)
        return f"tiny-encoder-h{self.hidden_size}-l{self.num_hidden_layers}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def ensure_tiny_encoder(cache_dir: Path | str, spec: TinyEncoderSpec) -> Path:
    """The folder of a small random-weight BERT encoder with the tiny model's BPE tokenizer, built on first
    use without network (staged in a temporary folder and renamed into place, like the tiny model)."""
    import torch
    from transformers import BertConfig, BertModel

    from demalign.training.tiny import build_tokenizer, tiny_spec

    def build(staging: Path) -> None:
        tokenizer = build_tokenizer(tiny_spec(vocab_size=spec.vocab_size))
        config = BertConfig(
            vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_hidden_layers,
            num_attention_heads=spec.num_attention_heads, intermediate_size=spec.intermediate_size,
            max_position_embeddings=spec.max_position_embeddings, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = BertModel(config)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return build_directory(Path(cache_dir) / spec.key(), build)


def load_for_training(name_or_path: str | Path, labels: Sequence[str], seed: int) -> tuple[Any, Any]:
    """(model, tokenizer) with a freshly initialised, seeded classification head for `labels`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(name_or_path), num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, ignore_mismatched_sizes=True,
        )  # fmt: skip
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


@dataclass(frozen=True)
class TrainSettings:
    epochs: float = 8.0
    learning_rate: float = 2e-3
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.0
    seed: int = 0


@dataclass
class TrainResult:
    samples_per_second: float
    train_loss: float
    log_history: list[dict[str, Any]]


def train_classifier(
    model: Any, tokenizer: Any, rows: Sequence[LabelledText], labels: Sequence[str], settings: TrainSettings,
    work_dir: Path,
) -> TrainResult:  # fmt: skip
    """Fine-tune `model` on `rows` with the transformers Trainer (CPU or GPU, no checkpoints kept)."""
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    index = {label: i for i, label in enumerate(labels)}
    encoded = tokenizer([r.text for r in rows], truncation=True, max_length=settings.max_length)
    dataset = Dataset.from_dict({**encoded, "labels": [index[r.label] for r in rows]})
    args = TrainingArguments(
        output_dir=str(work_dir), num_train_epochs=settings.epochs, learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size, weight_decay=settings.weight_decay, seed=settings.seed,
        data_seed=settings.seed, save_strategy="no", report_to=[], logging_steps=5, disable_tqdm=True,
        lr_scheduler_type="linear", warmup_steps=0,
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer)
    )
    output = trainer.train()
    return TrainResult(
        float(output.metrics.get("train_samples_per_second", 0.0)), float(output.training_loss),
        list(trainer.state.log_history),
    )  # fmt: skip


# ---- scoring ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyVerdict:
    label: str
    scores: dict[str, float]  # probability per label

    @property
    def harmful(self) -> bool:
        """Any label other than exactly `safe`."""
        return self.label != SAFE


class SafetyScorer:
    """A trained classifier checkpoint as a scorer: `classify(texts)` -> one `SafetyVerdict` per text."""

    def __init__(self, checkpoint: str | Path, batch_size: int = 32, max_length: int = 128) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint)).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        id2label = self.model.config.id2label
        self.labels = tuple(str(id2label[i]) for i in range(len(id2label)))
        if SAFE not in self.labels:
            raise ConfigError(
                f"{checkpoint}: the classifier's labels {list(self.labels)} have no label named exactly {SAFE!r}; "
                "harm is read as 'any label but safe', so train it with a safe class"
            )
        self.batch_size, self.max_length = batch_size, max_length

    @classmethod
    def from_model(
        cls, model: Any, tokenizer: Any, batch_size: int = 32, max_length: int = 128
    ) -> SafetyScorer:
        scorer = cls.__new__(cls)
        scorer.model, scorer.tokenizer = model.eval(), tokenizer
        scorer.labels = tuple(str(model.config.id2label[i]) for i in range(len(model.config.id2label)))
        scorer.batch_size, scorer.max_length = batch_size, max_length
        return scorer

    def classify(self, texts: Sequence[str]) -> list[SafetyVerdict]:
        import torch

        verdicts: list[SafetyVerdict] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else "(empty)" for t in texts[start : start + self.batch_size]]
            encoded = self.tokenizer(batch, truncation=True, max_length=self.max_length, padding=True,
                                     return_tensors="pt").to(device)  # fmt: skip
            with torch.no_grad():
                probs = torch.softmax(self.model(**encoded).logits.float(), dim=-1).cpu().tolist()
            for row in probs:
                best = max(range(len(row)), key=lambda i: row[i])
                verdicts.append(SafetyVerdict(self.labels[best], dict(zip(self.labels, row, strict=True))))
        return verdicts


# ---- metrics ------------------------------------------------------------------------------------------


def evaluate_predictions(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str], categories: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro F1, the confusion matrix (rows = gold,
    columns = predicted, in `labels` order) and accuracy per category. E.g. gold [a, a, b], predicted
    [a, b, b]: accuracy 2/3; a: precision 1, recall 1/2, F1 2/3; b: precision 1/2, recall 1, F1 2/3."""
    n = len(gold)
    matrix = [[sum(1 for g, p in zip(gold, predicted, strict=True) if g == row and p == col) for col in labels]
              for row in labels]  # fmt: skip
    per_class = []
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        predicted_n = sum(matrix[r][i] for r in range(len(labels)))
        support = sum(matrix[i])
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {"label": label, "precision": precision, "recall": recall, "f1": f1, "support": support}
        )
    counts = Counter(categories)
    correct = Counter(c for c, g, p in zip(categories, gold, predicted, strict=True) if g == p)
    slices = [{"category": c, "rows": counts[c], "accuracy": correct[c] / counts[c]} for c in sorted(counts)]
    scored = [c for c in per_class if c["support"]]
    return {
        "rows": n,
        "accuracy": sum(g == p for g, p in zip(gold, predicted, strict=True)) / n if n else None,
        "macro_f1": sum(c["f1"] for c in scored) / len(scored) if scored else None,
        "per_class": per_class,
        "confusion": matrix,
        "slices": slices,
    }
