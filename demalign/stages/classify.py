"""The safety classifier: train a multi-class text classifier (safe, hate, self_harm, dangerous_advice, toxic) and evaluate it.

    demalign stage=classify                                   # bundled synthetic set, tiny encoder built offline
    demalign stage=classify classify.encoder.source=hub classify.encoder.name_or_path=<hub id> classify.data=<file.jsonl>

Rows `{id, text, label, category?}` are split per label (seeded); the encoder (built offline, or any
hub model) is fine-tuned with transformers sequence classification, then scored on the held-out rows:
accuracy, per-class precision / recall / F1, the confusion matrix plot and accuracy per category.
Writes `checkpoint/` (what `demalign.cai.classifier.SafetyScorer` loads), `predictions.jsonl` and
`train_metrics.jsonl`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.cai.classifier import (
    SafetyScorer,
    TinyEncoderSpec,
    TrainSettings,
    bundled_safety_path,
    ensure_tiny_encoder,
    evaluate_predictions,
    load_for_training,
    load_labelled,
    stratified_split,
    train_classifier,
)
from demalign.errors import ConfigError
from demalign.reports import markdown_table, new_figure, save_figure

OPTIONS = "classify"
SHARED: tuple[str, ...] = ()
CHECKPOINT = "checkpoint"
PREDICTIONS = "predictions.jsonl"


@dataclass(frozen=True)
class Inputs:
    data: Path  # labelled JSONL {id, text, label, category?}

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.data) if opts.data else bundled_safety_path())


@dataclass(frozen=True)
class Outputs:
    checkpoint: Path  # the trained classifier + tokenizer (SafetyScorer loads it)
    predictions: Path  # held-out rows with gold and predicted label and the probabilities

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / CHECKPOINT, Path(folder) / PREDICTIONS)


def encoder_path(opts: DictConfig, env: DictConfig) -> str:
    encoder = opts.encoder
    if encoder.source == "tiny":
        return str(
            ensure_tiny_encoder(
                env.paths.cache_dir, TinyEncoderSpec(**{k: int(v) for k, v in encoder.tiny.items()})
            )
        )
    if encoder.source == "hub":
        if not encoder.name_or_path:
            raise ConfigError("classify.encoder.name_or_path: give a hub id or folder for encoder.source=hub")
        return str(encoder.name_or_path)
    raise ConfigError(f"classify.encoder.source={encoder.source!r}; choose tiny or hub")


def confusion_figure(run: Run, labels: list[str], matrix: list[list[int]]) -> str:
    fig = new_figure(5.5, 4.5)
    axis = fig.add_subplot()
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axis.text(
                j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black"
            )
    fig.colorbar(image, ax=axis)
    return save_figure(run, "confusion_matrix.png", fig)


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    labels = [str(label) for label in opts.labels]
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise ConfigError(f"classify.labels={labels}: give at least two distinct labels")
    rows = load_labelled(run.record_input(inputs.data), labels)
    train_rows, eval_rows = stratified_split(rows, float(opts.eval_ratio), int(opts.split_seed))
    run.seeds.update({"classify.split_seed": int(opts.split_seed), "classify.seed": int(opts.seed)})
    settings = TrainSettings(
        epochs=float(opts.epochs), learning_rate=float(opts.learning_rate), batch_size=int(opts.batch_size),
        max_length=int(opts.max_length), weight_decay=float(opts.weight_decay), seed=int(opts.seed),
    )  # fmt: skip
    source = encoder_path(opts, env)
    model, tokenizer = load_for_training(source, labels, settings.seed)
    result = train_classifier(model, tokenizer, train_rows, labels, settings, run.path("trainer_work"))
    model.save_pretrained(run.path(CHECKPOINT))
    tokenizer.save_pretrained(run.path(CHECKPOINT))
    run.record_output(CHECKPOINT)
    run.write_jsonl("train_metrics.jsonl", result.log_history)

    verdicts = SafetyScorer.from_model(model, tokenizer, max_length=settings.max_length).classify(
        [r.text for r in eval_rows]
    )
    predictions: list[dict[str, Any]] = [
        {"id": r.id, "text": r.text, "category": r.category, "label": r.label, "predicted": v.label,
         "correct": v.label == r.label, "scores": {k: round(p, 6) for k, p in v.scores.items()}}
        for r, v in zip(eval_rows, verdicts, strict=True)
    ]  # fmt: skip
    run.write_jsonl(PREDICTIONS, predictions)
    metrics = evaluate_predictions([r.label for r in eval_rows], [v.label for v in verdicts], labels,
                                   [r.category for r in eval_rows])  # fmt: skip
    run.metrics.update(
        train_rows=len(train_rows), eval_rows=len(eval_rows), accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"],
        per_class=metrics["per_class"], confusion=metrics["confusion"], slices=metrics["slices"],
        train_samples_per_second=result.samples_per_second, train_loss=result.train_loss, encoder=source,
    )  # fmt: skip
    figure = confusion_figure(run, labels, metrics["confusion"])
    run.section(
        "Safety classifier",
        f"{len(rows)} labelled rows from `{inputs.data}`; {len(train_rows)} train, {len(eval_rows)} held out (per label, "
        f"eval_ratio {opts.eval_ratio}, seed {opts.split_seed}). Encoder `{source}` ({opts.encoder.source}), "
        f"{settings.epochs:g} epochs at lr {settings.learning_rate:g}: {result.samples_per_second:.1f} samples/s, "
        f"train loss {result.train_loss:.4f}.\n\nHeld-out accuracy **{metrics['accuracy']:.3f}**, macro F1 "
        f"{metrics['macro_f1']:.3f} (chance: {1 / len(labels):.3f}).\n\n"
        + markdown_table(metrics["per_class"], ["label", "precision", "recall", "f1", "support"])
        + f"\nConfusion matrix (rows = gold, columns = predicted):\n\n{figure}",
    )
    run.section(
        "Per-category slices", "Held-out accuracy per category.\n\n" + markdown_table(metrics["slices"])
    )
    return Outputs.in_folder(run.dir)
