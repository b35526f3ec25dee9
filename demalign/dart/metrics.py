"""Decision metrics of parsed conclusions against gold labels (abstain = no parseable conclusion).

Over all n items (an abstain counts as wrong, so models are compared on the same denominator):

    accuracy        correct / n
    accuracy_yes    correct among gold YES   (the paper's DiffAcc)
    accuracy_no     correct among gold NO    (EqualAcc)
    precision_yes   gold YES among predicted YES
    abstain_rate    abstains / n
    macro_f1        mean over YES and NO of F1 = 2·TP / (2·TP + FP + FN); an abstain is a false
                    negative of its gold class and a false positive of neither

A rate whose denominator is 0 is None (not 0), and so is an F1 whose class never occurs or is never
predicted (then macro-F1 averages the classes it has). Worked example: gold (Y, Y, N, N), predictions
(Y, None, Y, N) → accuracy 0.5, on YES 0.5, on NO 0.5, precision on YES 0.5, abstain 0.25, F1(YES) =
2/(2+1+1) = 0.5, F1(NO) = 2/(2+0+1) = 2/3, macro-F1 = 7/12.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from demalign.dart.tasks import LABELS

DECISION_COLUMNS = (
    "n",
    "accuracy",
    "accuracy_yes",
    "accuracy_no",
    "precision_yes",
    "abstain_rate",
    "macro_f1",
)


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def class_f1(gold: Sequence[str], pred: Sequence[str | None], label: str) -> float | None:
    tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
    fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
    fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else None


def macro_f1(gold: Sequence[str], pred: Sequence[str | None]) -> float | None:
    scores = [f for f in (class_f1(gold, pred, label) for label in LABELS) if f is not None]
    return float(np.mean(scores)) if scores else None


def decision_metrics(gold: Sequence[str], pred: Sequence[str | None]) -> dict[str, Any]:
    """The metrics of the module docstring for one model."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    n = len(gold)
    correct = [g == p for g, p in zip(gold, pred, strict=True)]
    on = {label: [c for g, c in zip(gold, correct, strict=True) if g == label] for label in LABELS}
    said_yes = [g for g, p in zip(gold, pred, strict=True) if p == "YES"]
    return {
        "n": n,
        "accuracy": _rate(sum(correct), n),
        "accuracy_yes": _rate(sum(on["YES"]), len(on["YES"])),
        "accuracy_no": _rate(sum(on["NO"]), len(on["NO"])),
        "precision_yes": _rate(sum(g == "YES" for g in said_yes), len(said_yes)),
        "abstain_rate": _rate(sum(p is None for p in pred), n),
        "macro_f1": macro_f1(gold, pred),
    }
