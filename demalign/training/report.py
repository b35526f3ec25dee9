"""The training report's figure: loss, reward margin and reward accuracy (DPO) or loss, token accuracy
and entropy (SFT) against the step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from demalign.reports import new_figure
from demalign.training.runner import CURVE_KEYS, curves


def curves_figure(log_history: list[dict[str, Any]], keys: Sequence[str] = CURVE_KEYS) -> Any:
    """One panel per metric in `keys` (DPO's CURVE_KEYS by default), train and eval lines (eval dashed
    with markers)."""
    fig = new_figure(width=4.0 * len(keys), height=3.2)
    for axis, key in zip(fig.subplots(1, len(keys)), keys, strict=True):
        for split, (steps, values) in curves(log_history, key).items():
            style = {"marker": "o", "linestyle": "--"} if split == "eval" else {}
            axis.plot(steps, values, label=split, **style)
        axis.set_title(key)
        axis.set_xlabel("step")
        axis.legend()
    return fig
