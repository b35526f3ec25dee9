"""Weighted DPO: every preference pair i carries a weight w_i, and the loss is the batch mean of w_i·ℓ_i.

Why this design. TRL 1.16 keeps the whole DPO loss inside one ~330-line `DPOTrainer._compute_loss`
whose only reduction is `per_sequence_loss.mean()`, with no per-example hook. Rather than patch that
method's source, `WeightedDPOTrainer` overrides it with a short one that reuses TRL for everything
model-related (the fused-LM-head forward that returns per-token log-probs, the reference pass through
`compute_ref_log_probs` which handles a separate reference model, a PEFT model with its adapter
disabled, DeepSpeed engines and precomputed log-probs) and computes the per-sequence terms of the
supported loss types itself. The formulas are TRL's; `tests/unit/test_training_weighted.py` checks,
for every supported loss type, that all-ones weights reproduce stock TRL's loss and gradients
exactly, so a TRL upgrade that changes a formula or the forward API fails that test loudly.

Normalisation. Weights are rescaled to mean 1 over the training split (`normalize_weights`), and the
loss of a micro-batch is mean_i(w_i·ℓ_i), not Σwℓ/Σw: the per-batch ratio would give a pair more
influence when it happens to share a batch with low-weight pairs, while the plain mean is an unbiased
estimate of the dataset-level weighted loss across micro-batches, accumulation steps and ranks. With
this normalisation, weight 2 on a pair equals that pair appearing twice (up to the dataset's mean).

Logged metrics (`rewards/*`, `logps/*`) are weighted averages Σw·x/Σw over the gathered batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from trl import DPOTrainer

from demalign.errors import ConfigError, DataError

log = logging.getLogger(__name__)

WEIGHT_COLUMN = "weight"
# Loss types whose per-pair term depends only on that pair, so a per-pair weight is meaningful.
# (aot/aot_unpaired sort across the batch; sft is a batch token-mean; the others are not ported.)
SUPPORTED_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "sigmoid_norm")


def normalize_weights(weights: Sequence[float], where: str = "dataset") -> list[float]:
    """Rescale weights to mean 1.

    Example: [2, 1, 1, 0] has mean 1 → unchanged; [4, 2] has mean 3 → [4/3, 2/3].
    Negative, non-finite or all-zero weights raise a DataError naming `where`.
    """
    values = [float(w) for w in weights]
    bad = [i for i, w in enumerate(values) if not math.isfinite(w) or w < 0]
    if bad:
        raise DataError(
            f"{where}: weight must be a finite number >= 0; row {bad[0]} has {values[bad[0]]!r} "
            f"({len(bad)} bad row(s)); fix the weights written by stage=prepare"
        )
    mean = sum(values) / len(values) if values else 0.0
    if mean <= 0:
        raise DataError(f"{where}: all {len(values)} weights are zero; nothing would be trained")
    return [w / mean for w in values]


def per_sequence_losses(
    loss_type: str,
    beta: float,
    chosen_logratios: torch.Tensor,
    rejected_logratios: torch.Tensor,
    chosen_lengths: torch.Tensor,
    rejected_lengths: torch.Tensor,
) -> torch.Tensor:
    """ℓ_i for one loss type, from the policy-minus-reference log-ratios of each pair (TRL's formulas).

    δ = chosen_logratio − rejected_logratio. sigmoid: −log σ(βδ); hinge: max(0, 1 − βδ);
    ipo: (δ̄ − 1/(2β))² and sigmoid_norm: −log σ(βδ̄), where δ̄ uses log-ratios divided by the
    completion lengths. Example: sigmoid, β=0.1, δ=0 → log 2 ≈ 0.6931.
    """
    if loss_type == "sigmoid":
        return -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    if loss_type == "hinge":
        return torch.relu(1 - beta * (chosen_logratios - rejected_logratios))
    chosen_avg = chosen_logratios / chosen_lengths.clamp(min=1.0)
    rejected_avg = rejected_logratios / rejected_lengths.clamp(min=1.0)
    if loss_type == "ipo":
        return (chosen_avg - rejected_avg - 1 / (2 * beta)) ** 2
    if loss_type == "sigmoid_norm":
        return -F.logsigmoid(beta * (chosen_avg - rejected_avg))
    raise ConfigError(
        f"trainer.loss_type={loss_type!r} has no weighted version; use one of {SUPPORTED_LOSS_TYPES}"
    )


class WeightCollator:
    """Wraps TRL's preference collator and adds the `weight` column as a float tensor."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(examples)
        if examples and WEIGHT_COLUMN in examples[0]:
            batch[WEIGHT_COLUMN] = torch.tensor(
                [float(e[WEIGHT_COLUMN]) for e in examples], dtype=torch.float32
            )
        return batch


def check_supported(args: Any, trainer: Any | None = None) -> None:
    """Raise a ConfigError if the DPOConfig asks for something the weighted loss does not implement."""
    loss_types = [args.loss_type] if isinstance(args.loss_type, str) else list(args.loss_type)
    unsupported = [t for t in loss_types if t not in SUPPORTED_LOSS_TYPES]
    problems = []
    if unsupported:
        problems.append(
            f"trainer.loss_type={unsupported} (supported with weights: {list(SUPPORTED_LOSS_TYPES)})"
        )
    if args.f_divergence_type != "reverse_kl":
        problems.append(f"trainer.f_divergence_type={args.f_divergence_type!r} (only reverse_kl)")
    if args.ld_alpha is not None:
        problems.append("trainer.ld_alpha (must be null)")
    if args.use_weighting:
        problems.append("trainer.use_weighting (WPO; must be false)")
    if trainer is not None and trainer.aux_loss_enabled:
        problems.append("a Mixture-of-Experts auxiliary loss (set trainer.router_aux_loss_coef=0)")
    if problems:
        raise ConfigError(
            "the dataset has a weight column, and weighted DPO does not support: "
            + "; ".join(problems)
            + ". Change these keys, or drop the weight column to train with stock TRL."
        )


class WeightedDPOTrainer(DPOTrainer):
    """`trl.DPOTrainer` whose loss is mean_i(w_i·ℓ_i) with w from the dataset's `weight` column.

    The train/eval datasets must carry `weight` (already normalised with `normalize_weights`).
    """

    # Batch keys that are not model.forward arguments (as in TRL's own _compute_loss).
    _non_model_keys = frozenset({"completion_mask", "ref_chosen_logps", "ref_rejected_logps"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dpo_args = kwargs.get("args")
        if dpo_args is not None:
            check_supported(dpo_args)
        super().__init__(*args, **kwargs)
        check_supported(self.args, self)
        # Installed after TRL's __init__ (which may precompute reference log-probs with its own collator).
        self.data_collator = WeightCollator(self.data_collator)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if WEIGHT_COLUMN not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, WEIGHT_COLUMN]

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        # Any extra batch key reaches model.forward, which may silently ignore it; strip the weight.
        return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != WEIGHT_COLUMN})

    def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        mode = "train" if self.model.training else "eval"
        inputs = dict(inputs)
        weights = inputs.pop(WEIGHT_COLUMN)
        completion_mask = inputs["completion_mask"]
        seq_len = completion_mask.size(1) - 1
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        model_kwargs = {k: v for k, v in inputs.items() if k not in self._non_model_keys}
        outputs = model(**model_kwargs, labels=labels, use_cache=False, fused_lm_head=True)
        chosen_logps, rejected_logps = outputs.log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)

        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen_logps, ref_rejected_logps = self.compute_ref_log_probs(
                self.ref_model or self.model, inputs
            )
        chosen_logratios = chosen_logps - ref_chosen_logps
        rejected_logratios = rejected_logps - ref_rejected_logps
        chosen_lengths, rejected_lengths = completion_mask.sum(dim=1).chunk(2, dim=0)

        weights = weights.to(chosen_logps.device, chosen_logps.dtype)
        per_pair = sum(
            loss_weight
            * per_sequence_losses(
                loss_type, self.beta, chosen_logratios, rejected_logratios, chosen_lengths, rejected_lengths
            )
            for loss_type, loss_weight in zip(self.loss_types, self.loss_weights, strict=True)
        )
        loss = (weights * per_pair).mean()
        self._log_weighted_metrics(
            mode, weights, chosen_logratios, rejected_logratios, chosen_logps, rejected_logps
        )
        if mode == "train":
            tokens = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        if return_outputs:
            with torch.no_grad():
                outputs = model(**model_kwargs)
            return loss, outputs
        return loss

    def _log_weighted_metrics(
        self,
        mode: str,
        weights: torch.Tensor,
        chosen_logratios: torch.Tensor,
        rejected_logratios: torch.Tensor,
        chosen_logps: torch.Tensor,
        rejected_logps: torch.Tensor,
    ) -> None:
        """Weighted averages Σw·x/Σw over the batch gathered from all ranks (skipped if Σw = 0)."""
        chosen_rewards = self.beta * chosen_logratios.detach()
        rejected_rewards = self.beta * rejected_logratios.detach()
        per_pair = torch.stack(
            [
                chosen_rewards,
                rejected_rewards,
                (chosen_rewards > rejected_rewards).to(chosen_rewards.dtype),
                chosen_rewards - rejected_rewards,
                chosen_logps.detach(),
                rejected_logps.detach(),
            ],
            dim=1,
        )
        gathered = self.accelerator.gather(torch.cat([weights.detach()[:, None], per_pair], dim=1)).float()
        total = gathered[:, 0].sum()
        if total <= 0:
            return
        means = (gathered[:, :1] * gathered[:, 1:]).sum(dim=0) / total
        names = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins")
        for name, value in zip((*names, "logps/chosen", "logps/rejected"), means.tolist(), strict=True):
            self._metrics[mode][name].append(value)


def trainer_class(has_weights: bool) -> type[DPOTrainer]:
    """WeightedDPOTrainer for a dataset with a weight column, stock DPOTrainer otherwise (logged)."""
    if not has_weights:
        log.info("dataset has no %r column: training unweighted with stock trl.DPOTrainer", WEIGHT_COLUMN)
        return DPOTrainer
    return WeightedDPOTrainer
