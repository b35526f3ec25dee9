"""The safety classifier: stage=classify learns the bundled separable set well above chance on held-out rows;
metrics worked example; the scorer reads labels by exact name; bad rows name file and line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict

from demalign.artifacts import read_jsonl
from demalign.cai.classifier import (
    SAFETY_LABELS,
    SafetyScorer,
    TinyEncoderSpec,
    ensure_tiny_encoder,
    evaluate_predictions,
    load_for_training,
    load_labelled,
)
from demalign.errors import ConfigError, DataError
from demalign.run import run_configured
from demalign.stages import classify
from tests.unit.test_training_weighted import CACHE

torch.set_num_threads(1)


def test_classifier_learns_the_separable_set_above_chance(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = make_cfg("stage=classify", "classify.epochs=4")
    with open_dict(cfg):
        cfg.paths.cache_dir = str(CACHE)  # the tiny encoder is built once for the suite
    run = run_configured(cfg, tmp_path / "classify")
    m = run.metrics
    assert m["train_rows"] + m["eval_rows"] == 250 and m["eval_rows"] == 5 * 15
    assert m["accuracy"] >= 0.6  # three times chance (1 of 5 labels)
    assert [c["label"] for c in m["per_class"]] == list(SAFETY_LABELS) and all(
        c["support"] == 15 for c in m["per_class"]
    )
    assert sum(map(sum, m["confusion"])) == 75 and [s["category"] for s in m["slices"]] == [
        "health", "home", "online", "school", "work"]  # fmt: skip
    out = classify.Outputs.in_folder(run.dir)
    predictions = read_jsonl(out.predictions)
    assert len(predictions) == 75 and sum(p["correct"] for p in predictions) / 75 == m["accuracy"]
    report = (run.dir / "report.md").read_text()
    assert "confusion_matrix.png" in report and (run.dir / "confusion_matrix.png").is_file()
    assert "## Per-category slices" in report
    # the checkpoint is a scorer other recipes call
    scorer = SafetyScorer(out.checkpoint)
    assert scorer.labels == SAFETY_LABELS
    verdicts = scorer.classify([p["text"] for p in predictions[:10]])
    assert [v.label for v in verdicts] == [p["predicted"] for p in predictions[:10]]
    assert all(abs(sum(v.scores.values()) - 1) < 1e-5 and v.harmful == (v.label != "safe") for v in verdicts)


def test_metrics_worked_example() -> None:
    result = evaluate_predictions(["a", "a", "b"], ["a", "b", "b"], ["a", "b", "c"], ["x", "y", "y"])
    assert result["accuracy"] == pytest.approx(2 / 3)
    a, b, c = result["per_class"]
    assert (a["precision"], a["recall"], a["f1"]) == (1.0, 0.5, pytest.approx(2 / 3))
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert c["support"] == 0 and result["macro_f1"] == pytest.approx(
        2 / 3
    )  # classes without rows are not averaged
    assert result["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert result["slices"] == [
        {"category": "x", "rows": 1, "accuracy": 1.0},
        {"category": "y", "rows": 2, "accuracy": 0.5},
    ]


def test_scorer_reads_labels_by_exact_name(tmp_path: Path) -> None:
    """A classifier whose labels are `unsafe` and `ok` has no class named exactly `safe`: refused, not
    matched by substring (a substring match would read every `unsafe` verdict as safe)."""
    encoder = ensure_tiny_encoder(CACHE, TinyEncoderSpec())
    model, tokenizer = load_for_training(encoder, ["unsafe", "ok"], 0)
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    with pytest.raises(ConfigError, match="no label named exactly 'safe'"):
        SafetyScorer(tmp_path / "ckpt")


def test_bad_rows_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        json.dumps({"text": "fine", "label": "safe"})
        + "\n"
        + json.dumps({"text": "x", "label": "unsafe"})
        + "\n"
    )
    with pytest.raises(DataError, match=re.escape(f"{path}:2: label 'unsafe' is not one of")):
        load_labelled(path, SAFETY_LABELS)
    path.write_text(json.dumps({"text": " ", "label": "safe"}) + "\n")
    with pytest.raises(DataError, match=re.escape(f"{path}:1: `text` must be")):
        load_labelled(path, SAFETY_LABELS)
