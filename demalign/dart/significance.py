"""Is the tuned model B better than the baseline A? Paired tests over the same test items.

- exact McNemar on paired correctness (b = A right & B wrong, c = A wrong & B right), overall and per
  benchmark (`comparison.mcnemar_exact`; worked: b = 3, c = 10 → p = 0.0923);
- paired percentile bootstrap (items resampled together, 2 000 resamples, seeded) for Δaccuracy and
  Δmacro-F1;
- Wilcoxon signed-rank on the paired harm scores of the primary view and metric. The released code
  compared the two harm distributions with Mann–Whitney U, which treats A's and B's scores as
  independent samples and ignores that each item was scored twice;
- DART's stars (*** < 0.001, ** < 0.01, * < 0.05). No multiple-comparison correction, as the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from demalign.comparison import mcnemar_exact, paired_bootstrap_ci, significance_stars, wilcoxon_signed_rank
from demalign.dart.metrics import decision_metrics

_CODE = {"YES": 0, "NO": 1}


@dataclass(frozen=True)
class PairedDecisions:
    """One test item per index: gold label, both models' parsed conclusions (None = abstain),
    its benchmark and both harm scores on the primary view and metric (None where unscored)."""

    gold: Sequence[str]
    pred_a: Sequence[str | None]
    pred_b: Sequence[str | None]
    benchmark: Sequence[str]
    harm_a: Sequence[float | None]
    harm_b: Sequence[float | None]


def _codes(labels: Sequence[str | None]) -> np.ndarray:
    return np.array([_CODE.get(label, 2) if label is not None else 2 for label in labels], dtype=np.int8)


def _macro_f1_rows(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Macro-F1 per row of (resamples × n) code matrices, as `metrics.macro_f1` (NaN-free classes only)."""
    scores = []
    for label in (0, 1):
        tp = ((gold == label) & (pred == label)).sum(axis=1)
        fp = ((gold != label) & (pred == label)).sum(axis=1)
        fn = ((gold == label) & (pred != label)).sum(axis=1)
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan))
    stacked = np.vstack(scores)
    counted = (~np.isnan(stacked)).sum(axis=0)
    return np.where(counted > 0, np.nansum(stacked, axis=0) / np.maximum(counted, 1), np.nan)


def bootstrap_delta_macro_f1(
    gold: Sequence[str], pred_a: Sequence[str | None], pred_b: Sequence[str | None], *,
    n_resamples: int = 2000, level: float = 0.95, seed: int = 42,
) -> dict[str, Any]:  # fmt: skip
    """Percentile CI of macro-F1(B) − macro-F1(A), resampling items with `default_rng(seed)`."""
    g, a, b = _codes(gold), _codes(pred_a), _codes(pred_b)
    n = g.size
    record: dict[str, Any] = {"level": level, "n_resamples": n_resamples, "seed": seed,
                              "method": "paired percentile bootstrap (items resampled with replacement)"}  # fmt: skip
    if n == 0:
        return {"estimate": None, "ci_low": None, "ci_high": None, **record}
    estimate = _macro_f1_rows(g[None], b[None])[0] - _macro_f1_rows(g[None], a[None])[0]
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_resamples)
    block = max(1, min(n_resamples, (1 << 20) // n))
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        deltas[start:stop] = _macro_f1_rows(g[idx], b[idx]) - _macro_f1_rows(g[idx], a[idx])
    deltas = deltas[~np.isnan(deltas)]
    low, high = np.quantile(deltas, [(1 - level) / 2, (1 + level) / 2]) if deltas.size else (np.nan, np.nan)
    return {"estimate": float(estimate), "ci_low": float(low), "ci_high": float(high), **record}


def significance(
    data: PairedDecisions, *, n_resamples: int = 2000, seed: int = 42, level: float = 0.95
) -> dict[str, Any]:
    """Every test of the module docstring, as one JSON-ready record."""
    gold = list(data.gold)
    right_a = np.array([p == g for p, g in zip(data.pred_a, gold, strict=True)], dtype=bool)
    right_b = np.array([p == g for p, g in zip(data.pred_b, gold, strict=True)], dtype=bool)
    overall = mcnemar_exact(right_a, right_b)
    per_benchmark = {}
    bench = np.array(list(data.benchmark))
    for name in sorted(set(bench.tolist())):
        mask = bench == name
        result = mcnemar_exact(right_a[mask], right_b[mask])
        per_benchmark[name] = {**result.as_record(), "accuracy_a": float(right_a[mask].mean()),
                               "accuracy_b": float(right_b[mask].mean()), "stars": significance_stars(result.p_value)}  # fmt: skip
    acc_ci = paired_bootstrap_ci(
        right_a.astype(float), right_b.astype(float), n_resamples=n_resamples, level=level, seed=seed
    )
    f1_ci = bootstrap_delta_macro_f1(
        gold, data.pred_a, data.pred_b, n_resamples=n_resamples, level=level, seed=seed
    )
    scored = [
        (a, b) for a, b in zip(data.harm_a, data.harm_b, strict=True) if a is not None and b is not None
    ]
    harm = wilcoxon_signed_rank([a for a, _ in scored], [b for _, b in scored])
    return {
        "n": len(gold),
        "metrics_a": decision_metrics(gold, list(data.pred_a)),
        "metrics_b": decision_metrics(gold, list(data.pred_b)),
        "mcnemar": {**overall.as_record(), "stars": significance_stars(overall.p_value)},
        "mcnemar_per_benchmark": per_benchmark,
        "bootstrap_delta_accuracy": acc_ci.as_record(),
        "bootstrap_delta_macro_f1": f1_ci,
        "wilcoxon_harm": {
            **harm.as_record(),
            "stars": significance_stars(harm.p_value),
            "mean_delta": float(np.mean([b - a for a, b in scored])) if scored else None,
            "test": "Wilcoxon signed-rank on paired harm scores (B − A)",
        },
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def significance_rows(record: dict[str, Any]) -> list[dict[str, str]]:
    """The report table: one row per benchmark, then the overall row."""
    rows = []
    for name, r in record["mcnemar_per_benchmark"].items():
        rows.append({"benchmark": name, "n": str(r["n_pairs"]), "acc_A": _fmt(r["accuracy_a"]), "acc_B": _fmt(r["accuracy_b"]),
                     "b": str(r["b_lost"]), "c": str(r["c_gained"]), "p_mcnemar": _fmt(r["p_value"], 4), "sig": r["stars"]})  # fmt: skip
    m = record["mcnemar"]
    rows.append({"benchmark": "all", "n": str(record["n"]), "acc_A": _fmt(record["metrics_a"]["accuracy"]),
                 "acc_B": _fmt(record["metrics_b"]["accuracy"]), "b": str(m["b_lost"]), "c": str(m["c_gained"]),
                 "p_mcnemar": _fmt(m["p_value"], 4), "sig": m["stars"]})  # fmt: skip
    return rows


def summary_lines(record: dict[str, Any]) -> list[str]:
    acc, f1, harm = (
        record["bootstrap_delta_accuracy"],
        record["bootstrap_delta_macro_f1"],
        record["wilcoxon_harm"],
    )
    return [
        f"Δaccuracy {_fmt(acc['estimate'])} [{_fmt(acc['ci_low'])}, {_fmt(acc['ci_high'])}] "
        f"({acc['n_resamples']} paired bootstrap resamples, seed {acc['seed']})",
        f"Δmacro-F1 {_fmt(f1['estimate'])} [{_fmt(f1['ci_low'])}, {_fmt(f1['ci_high'])}]",
        f"harm (primary view and metric): mean Δ {_fmt(harm['mean_delta'])}, Wilcoxon signed-rank p "
        f"{_fmt(harm['p_value'], 4)}{harm['stars']} over {harm['n_used']} non-zero differences",
    ]


def latex_table(rows: Sequence[dict[str, str]], caption: str) -> str:
    """A booktabs LaTeX table of `rows` (underscores and stars escaped)."""
    if not rows:
        return ""
    columns = list(rows[0])

    def esc(text: str) -> str:
        return (
            text.replace("\\", r"\textbackslash{}")
            .replace("_", r"\_")
            .replace("%", r"\%")
            .replace("&", r"\&")
        )

    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * (len(columns) - 1) + "}", r"\toprule",
             " & ".join(esc(c) for c in columns) + r" \\", r"\midrule"]  # fmt: skip
    for row in rows:
        cells = [esc(row[c]) if c != "sig" else (f"${row[c]}$" if row[c] else "") for c in columns]
        if row is rows[-1] and len(rows) > 1:
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{esc(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"
