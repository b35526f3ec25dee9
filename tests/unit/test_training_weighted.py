"""Weighted DPO on a real tiny model: exact agreement with stock TRL at unit weights, zero weights
give zero gradient, weight 2 equals duplication, weighted metrics, and the normalisation maths."""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from hypothesis import given
from hypothesis import strategies as st
from trl import DPOConfig, DPOTrainer

from demalign.errors import ConfigError, DataError
from demalign.training.synthetic import synthetic_pairs
from demalign.training.tiny import ensure_tiny_model
from demalign.training.weighted_dpo import (
    SUPPORTED_LOSS_TYPES,
    WeightedDPOTrainer,
    normalize_weights,
    per_sequence_losses,
    trainer_class,
)

torch.set_num_threads(1)
CACHE = Path(tempfile.gettempdir()) / "demalign-test-cache"
UPGRADE_HINT = (
    "TRL's DPO loss no longer matches demalign.training.weighted_dpo; re-derive per_sequence_losses"
)


@pytest.fixture(scope="module")
def tiny_path() -> str:
    return str(ensure_tiny_model(CACHE))


def pairs(n: int, weights: list[float] | None = None, seed: int = 3) -> list[dict]:
    rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in synthetic_pairs(n, seed=seed)]
    return rows if weights is None else [dict(r, weight=w) for r, w in zip(rows, weights, strict=True)]


def loss_and_grads(cls, path: str, rows: list[dict], tmp: Path, **config) -> tuple[float, dict, DPOTrainer]:
    """One full-batch loss + gradients, with the policy moved away from the reference (seeded noise)
    so that log-ratios, and hence the loss terms, are not all zero."""
    peft_config = config.pop("peft_config", None)
    args = DPOConfig(
        output_dir=str(tmp), per_device_train_batch_size=len(rows), report_to="none", bf16=False,
        gradient_checkpointing=False, use_cpu=True, max_length=128, **config,
    )  # fmt: skip
    trainer = cls(model=path, args=args, train_dataset=Dataset.from_list(rows), peft_config=peft_config)
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    trainer.model.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.item(), grads, trainer


def max_grad_diff(a: dict, b: dict, scale_b: float = 1.0) -> float:
    assert a.keys() == b.keys() and a
    return max((a[k] - scale_b * b[k]).abs().max().item() for k in a)


def test_normalize_weights_worked_example() -> None:
    """[4, 2] has mean 3 → [4/3, 2/3]; [2, 1, 1, 0] already has mean 1."""
    assert normalize_weights([4, 2]) == pytest.approx([4 / 3, 2 / 3])
    assert normalize_weights([2, 1, 1, 0]) == [2, 1, 1, 0]


@pytest.mark.parametrize("bad", [[1.0, -0.5], [1.0, math.nan], [0.0, 0.0], [1.0, math.inf]])
def test_normalize_weights_rejects_bad_weights(bad: list[float]) -> None:
    with pytest.raises(DataError, match="train split"):
        normalize_weights(bad, "train split")


@given(
    st.lists(st.floats(min_value=0.0, max_value=1e3), min_size=1, max_size=50).filter(lambda w: sum(w) > 1e-6)
)
def test_normalized_weights_have_mean_one_and_keep_ratios(weights: list[float]) -> None:
    normalized = normalize_weights(weights)
    assert sum(normalized) / len(normalized) == pytest.approx(1.0)
    top = max(range(len(weights)), key=weights.__getitem__)
    for w, n in zip(weights, normalized, strict=True):
        assert n * weights[top] == pytest.approx(w * normalized[top], rel=1e-9, abs=1e-12)


def test_per_sequence_losses_worked_numbers() -> None:
    """β=0.1, chosen log-ratio 4, rejected −6 (δ=10), lengths 2 and 4 (δ̄ = 2 − (−1.5) = 3.5):
    sigmoid −log σ(1) = 0.31326; hinge max(0, 1 − 1) = 0; ipo (3.5 − 5)² = 2.25; sigmoid_norm −log σ(0.35)."""
    args = (torch.tensor([4.0]), torch.tensor([-6.0]), torch.tensor([2.0]), torch.tensor([4.0]))
    expected = {
        "sigmoid": 0.31326,
        "hinge": 0.0,
        "ipo": 2.25,
        "sigmoid_norm": -math.log(1 / (1 + math.exp(-0.35))),
    }
    for loss_type, value in expected.items():
        assert per_sequence_losses(loss_type, 0.1, *args).item() == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize("loss_type", SUPPORTED_LOSS_TYPES)
def test_unit_weights_reproduce_stock_trl_exactly(tiny_path: str, tmp_path: Path, loss_type: str) -> None:
    rows = pairs(4)
    stock_loss, stock_grads, _ = loss_and_grads(DPOTrainer, tiny_path, rows, tmp_path, loss_type=loss_type)
    ours_loss, ours_grads, _ = loss_and_grads(
        WeightedDPOTrainer, tiny_path, [dict(r, weight=1.0) for r in rows], tmp_path, loss_type=loss_type
    )
    assert stock_loss != 0.0
    assert ours_loss == stock_loss, UPGRADE_HINT
    assert max_grad_diff(ours_grads, stock_grads) == 0.0, UPGRADE_HINT


@pytest.mark.parametrize("mode", ["precompute_ref_log_probs", "lora"])
def test_unit_weights_reproduce_stock_trl_with_precompute_and_lora(
    tiny_path: str, tmp_path: Path, mode: str
) -> None:
    from peft import LoraConfig

    config = (
        {"precompute_ref_log_probs": True}
        if mode == "precompute_ref_log_probs"
        else {
            "peft_config": LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
        }
    )
    rows = pairs(4)
    stock_loss, stock_grads, _ = loss_and_grads(DPOTrainer, tiny_path, rows, tmp_path, **dict(config))
    ours_loss, ours_grads, _ = loss_and_grads(
        WeightedDPOTrainer, tiny_path, [dict(r, weight=1.0) for r in rows], tmp_path, **dict(config)
    )
    assert ours_loss == stock_loss, UPGRADE_HINT
    assert max_grad_diff(ours_grads, stock_grads) == 0.0, UPGRADE_HINT


def test_zero_weight_pair_contributes_zero_gradient(tiny_path: str, tmp_path: Path) -> None:
    """Weights (0, 1, 1, 1): the batch mean over 4 of w·ℓ is 3/4 of stock's mean over the other 3 pairs,
    and replacing the zero-weight pair's text changes nothing."""
    rows = pairs(4)
    zero_first = [dict(r, weight=w) for r, w in zip(rows, [0.0, 1.0, 1.0, 1.0], strict=True)]
    loss, grads, _ = loss_and_grads(WeightedDPOTrainer, tiny_path, zero_first, tmp_path)
    stock_loss, stock_grads, _ = loss_and_grads(DPOTrainer, tiny_path, rows[1:], tmp_path)
    assert loss == pytest.approx(0.75 * stock_loss, rel=1e-6)
    assert max_grad_diff(grads, stock_grads, scale_b=0.75) < 1e-6
    replaced = [dict(pairs(1, seed=99)[0], weight=0.0), *zero_first[1:]]
    _, grads_replaced, _ = loss_and_grads(WeightedDPOTrainer, tiny_path, replaced, tmp_path)
    assert max_grad_diff(grads, grads_replaced) < 1e-6


def test_weight_two_equals_duplicating_the_pair(tiny_path: str, tmp_path: Path) -> None:
    """Raw weights (2, 1, 1) normalise to (1.5, 0.75, 0.75); mean of w·ℓ over 3 = (2ℓa + ℓb + ℓc)/4,
    which is stock TRL's loss on (a, a, b, c)."""
    a, b, c = pairs(3)
    weights = normalize_weights([2.0, 1.0, 1.0])
    loss, grads, _ = loss_and_grads(
        WeightedDPOTrainer,
        tiny_path,
        [dict(r, weight=w) for r, w in zip((a, b, c), weights, strict=True)],
        tmp_path,
    )
    dup_loss, dup_grads, _ = loss_and_grads(DPOTrainer, tiny_path, [a, a, b, c], tmp_path)
    assert loss == pytest.approx(dup_loss, rel=1e-6)
    assert max_grad_diff(grads, dup_grads) < 1e-6


def test_logged_reward_metrics_are_weighted(tiny_path: str, tmp_path: Path) -> None:
    """Weights (1, 0, 0): every logged reward metric equals stock TRL's on pair 0 alone."""
    rows = pairs(3)
    _, _, ours = loss_and_grads(
        WeightedDPOTrainer,
        tiny_path,
        [dict(r, weight=w) for r, w in zip(rows, [3.0, 0.0, 0.0], strict=True)],
        tmp_path,
    )
    _, _, stock = loss_and_grads(DPOTrainer, tiny_path, rows[:1], tmp_path)
    for key in (
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "logps/chosen",
    ):
        assert ours._metrics["train"][key] == pytest.approx(stock._metrics["train"][key], rel=1e-5), key


def test_unsupported_loss_type_is_a_config_error(tiny_path: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trainer\.loss_type"):
        loss_and_grads(WeightedDPOTrainer, tiny_path, pairs(2, [1.0, 1.0]), tmp_path, loss_type="aot")


def test_dataset_without_weight_uses_stock_trainer_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="demalign.training.weighted_dpo"):
        assert trainer_class(False) is DPOTrainer
        assert trainer_class(True) is WeightedDPOTrainer
    assert [r.getMessage() for r in caplog.records] == [
        "dataset has no 'weight' column: training unweighted with stock trl.DPOTrainer"
    ]
