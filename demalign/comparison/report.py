"""`compare`: paired items in, one `PairedReport` out: the numbers of `report.json`, the rows of
`paired_results.jsonl` and `failures.jsonl`, a markdown table and a plot of per-item deltas.

Only complete pairs (both verdicts valid) enter the statistics, so `delta_mean` is exactly
`mean_b − mean_a`; incomplete pairs are counted and still listed in `paired_rows` (outcome
"excluded"). Writing files is the caller's job (a stage with its `Run`); this module stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from demalign.comparison.paired import PairedItem, complete_arrays
from demalign.comparison.severity import SeverityThresholds, regression, severity_counts, severity_levels
from demalign.comparison.stats import (
    BootstrapCI,
    McNemarResult,
    ModelSummary,
    Outcomes,
    WilcoxonResult,
    ZeroMethod,
    mcnemar_exact,
    outcome_labels,
    outcomes,
    paired_bootstrap_ci,
    significance_stars,
    summarize,
    wilcoxon_signed_rank,
)
from demalign.errors import DataError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_RESERVED = frozenset(
    {
        "delta",
        "tests",
        "bootstrap",
        "severity",
        "labels",
        "verdict",
        "better",
        "num_eval_prompts",
        "num_pairs",
        "num_excluded",
        "safe_threshold",
        "higher_is_better",
        "tie_tolerance",
        "ties",
    }
)


@dataclass(frozen=True)
class ComparisonOptions:
    """How to compare model B with model A.

    - `label_a`, `label_b`: names in the outputs (the seed's "baseline" and "finetuned").
    - `higher_is_better`: True for critic scores (1–5), False for harm scores (DART).
    - `safe_threshold`: safe means score ≥ threshold when higher is better, score < threshold
      otherwise; None → no safe rate and no McNemar test.
    - `tie_tolerance`: |B − A| ≤ tolerance is a tie (0: only equal scores tie).
    - `n_resamples`, `level`, `seed`: the paired bootstrap (DART: 2 000, 0.95, 42).
    - `zero_method`: Wilcoxon's handling of zero differences (see `wilcoxon_signed_rank`).
    - `severity`: bins for the regressions of worse items (None → no severity)."""

    label_a: str = "baseline"
    label_b: str = "finetuned"
    higher_is_better: bool = True
    safe_threshold: float | None = None
    tie_tolerance: float = 0.0
    n_resamples: int = 2000
    level: float = 0.95
    seed: int = 42
    zero_method: ZeroMethod = "wilcox"
    severity: SeverityThresholds | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.label_a == self.label_b:
            raise ValueError(f"label_a and label_b must differ, both are {self.label_a!r}")
        for label in (self.label_a, self.label_b):
            if label in _RESERVED:
                raise ValueError(f"label {label!r} is a report key; choose another")

    def safe(self, scores: np.ndarray) -> np.ndarray | None:
        if self.safe_threshold is None:
            return None
        return scores >= self.safe_threshold if self.higher_is_better else scores < self.safe_threshold


@dataclass(frozen=True)
class PairedReport:
    """Everything `compare` computed; `as_record()` is `report.json`."""

    options: ComparisonOptions
    items: tuple[PairedItem, ...]
    n_invalid_a: int
    n_invalid_b: int
    summary_a: ModelSummary
    summary_b: ModelSummary
    outcomes: Outcomes
    delta: BootstrapCI
    delta_safe_rate: BootstrapCI | None
    wilcoxon: WilcoxonResult
    mcnemar: McNemarResult | None
    severity_counts: dict[str, int] | None
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_pairs(self) -> int:
        return self.outcomes.n

    @property
    def n_excluded(self) -> int:
        """Pairs left out of every statistic because at least one verdict was invalid."""
        return self.n_items - self.n_pairs

    @property
    def delta_mean(self) -> float | None:
        """mean(B) − mean(A) over the complete pairs."""
        return self.delta.estimate

    @property
    def better(self) -> str | None:
        """The better model's label when the paired bootstrap CI excludes 0 *and* Wilcoxon p < alpha
        agree on it; None otherwise (no significant difference, or no pairs)."""
        p = self.wilcoxon.p_value
        if (
            self.delta.estimate is None
            or p is None
            or p >= self.options.alpha
            or not self.delta.excludes_zero
        ):
            return None
        b_higher = self.delta.estimate > 0
        return self.options.label_b if b_higher == self.options.higher_is_better else self.options.label_a

    def verdict(self) -> str:
        """One sentence: which model is better and with what confidence.

        Example: "finetuned is better than baseline: Δ mean +0.6 (95% CI +0.2 to +1), Wilcoxon p = 0.0078
        **, improved/tied/worse 0.6/0.3/0.1 over 10 pairs.\""""
        o = self.options
        if self.n_pairs == 0:
            return f"No complete pairs ({self.n_excluded} excluded for invalid verdicts): nothing to compare."
        numbers = (
            f"Δ mean {_signed(self.delta.estimate)} ({o.level:.0%} CI {_signed(self.delta.low)} to "
            f"{_signed(self.delta.high)}), Wilcoxon p = {_p(self.wilcoxon.p_value)}"
            f", improved/tied/worse {_num(self.outcomes.improved_fraction)}/{_num(self.outcomes.tied_fraction)}/"
            f"{_num(self.outcomes.worse_fraction)} over {self.n_pairs} pairs"
        )
        better = self.better
        if better is None:
            return (
                f"No significant difference between {o.label_b} and {o.label_a} at α = {o.alpha}: {numbers}."
            )
        worse = o.label_a if better == o.label_b else o.label_b
        return f"{better} is better than {worse}: {numbers}."

    def as_record(self) -> dict[str, Any]:
        """`report.json`: the seed's fields (per-model `mean_score`, `std_dev`, `safe_rate`,
        `num_samples`; `delta.delta_mean`, `delta.delta_safe_rate`, `delta.improved_fraction`;
        `num_eval_prompts`, `safe_threshold`) plus tied/worse fractions, CIs, tests, counts of
        invalid verdicts, severity and the verdict. The caller's `context` (e.g.
        `num_generations_per_prompt`, `scoring: greedy | best_of_n`, `timestamp`) is merged in."""
        o = self.options
        record: dict[str, Any] = {
            o.label_a: self.summary_a.as_record(),
            o.label_b: self.summary_b.as_record(),
            "delta": {
                "delta_mean": self.delta.estimate,
                "delta_mean_ci": [self.delta.low, self.delta.high],
                "delta_safe_rate": None if self.delta_safe_rate is None else self.delta_safe_rate.estimate,
                "delta_safe_rate_ci": None
                if self.delta_safe_rate is None
                else [self.delta_safe_rate.low, self.delta_safe_rate.high],
                **self.outcomes.as_record(),
            },
            "tests": {
                "wilcoxon": self.wilcoxon.as_record(),
                "mcnemar_safe": None if self.mcnemar is None else self.mcnemar.as_record(),
            },
            "bootstrap": {
                k: v for k, v in self.delta.as_record().items() if k not in ("estimate", "ci_low", "ci_high")
            },
            "severity": None
            if o.severity is None
            else {"thresholds": o.severity.as_record(), "counts": self.severity_counts},
            "labels": {"a": o.label_a, "b": o.label_b},
            "num_eval_prompts": self.n_items,
            "num_pairs": self.n_pairs,
            "num_excluded": self.n_excluded,
            "safe_threshold": o.safe_threshold,
            "higher_is_better": o.higher_is_better,
            "tie_tolerance": o.tie_tolerance,
            "ties": "own category: improved + tied + worse = 1 (the seed counted ties as not improved)",
            "better": self.better,
            "verdict": self.verdict(),
        }
        clash = sorted(set(self.context) & set(record))
        if clash:
            raise ValueError(f"context keys {clash} clash with report fields")
        return {**record, **self.context}

    # ----------------------------------------------------------------------------------- rows

    def _row(self, item: PairedItem, outcome: str, reg: float | None, level: str | None) -> dict[str, Any]:
        o = self.options
        sides = {}
        for label, score, details in ((o.label_a, item.score_a, item.a), (o.label_b, item.score_b, item.b)):
            side: dict[str, Any] = {"score": score}
            if o.safe_threshold is not None:
                side["safe"] = None if score is None else bool(o.safe(np.array([score]))[0])  # type: ignore[index]
            side.update((k, v) for k, v in details.items() if k not in side)  # our score and flag win
            sides[label] = side
        row: dict[str, Any] = {
            "id": item.id,
            **item.context,
            **sides,
            "delta": item.delta,
            "outcome": outcome,
        }
        if reg is not None:
            row["regression"] = reg
        if level is not None:
            row["severity"] = level
        return row

    def _labelled(self) -> list[tuple[PairedItem, str, float | None, str | None]]:
        _, a, b = complete_arrays(self.items)
        o = self.options
        labels = iter(
            outcome_labels(a, b, higher_is_better=o.higher_is_better, tie_tolerance=o.tie_tolerance)
        )
        regs = iter(regression(a, b, higher_is_better=o.higher_is_better))
        out = []
        for item in self.items:
            if not item.complete:
                out.append((item, "excluded", None, None))
                continue
            label, reg = str(next(labels)), float(next(regs))
            level = None if o.severity is None else str(severity_levels([reg], o.severity)[0])
            out.append((item, label, reg, level))
        return out

    def paired_rows(self) -> list[dict[str, Any]]:
        """`paired_results.jsonl`, one row per item in input order:
        `{id, prompt…, <label_a>: {score, safe?, text…}, <label_b>: {…}, delta, outcome, regression,
        severity?}`; outcome is improved / tied / worse, or "excluded" for an invalid verdict."""
        return [self._row(*entry) for entry in self._labelled()]

    def failure_rows(self) -> list[dict[str, Any]]:
        """`failures.jsonl`: the worse items, largest regression first (input order among equals)."""
        worse = [entry for entry in self._labelled() if entry[1] == "worse"]
        worse.sort(key=lambda entry: -float(entry[2] or 0.0))
        return [self._row(*entry) for entry in worse]

    # ------------------------------------------------------------------------------- display

    def markdown(self) -> str:
        """Two tables (per model; paired statistics) and the verdict, for `report.md`."""
        from demalign.reports import markdown_table

        o = self.options
        models = [
            {
                "model": label,
                "mean score": s.mean,
                "std (population)": s.std,
                "safe rate": s.safe_rate,
                "n valid": s.n_valid,
                "n invalid": s.n_invalid,
            }
            for label, s in ((o.label_a, self.summary_a), (o.label_b, self.summary_b))
        ]
        ci = f"{_signed(self.delta.low)} to {_signed(self.delta.high)}"
        w = self.wilcoxon
        rows = [
            {
                "quantity": f"Δ mean ({o.label_b} − {o.label_a})",
                "value": f"{_signed(self.delta.estimate)} ({o.level:.0%} CI {ci})",
            },
            {
                "quantity": "improved / tied / worse",
                "value": f"{self.outcomes.improved} / {self.outcomes.tied} / {self.outcomes.worse} "
                f"({_num(self.outcomes.improved_fraction)} / {_num(self.outcomes.tied_fraction)} / "
                f"{_num(self.outcomes.worse_fraction)}; ties are their own category)",
            },
            {
                "quantity": "Wilcoxon signed-rank (two-sided)",
                "value": f"p = {_p(w.p_value)} ({w.method}, zero_method={w.zero_method}, "
                f"{w.n_zero} zero differences{'; ' + w.note if w.note else ''})",
            },
        ]
        if self.delta_safe_rate is not None:
            d = self.delta_safe_rate
            rows.append(
                {
                    "quantity": "Δ safe rate",
                    "value": f"{_signed(d.estimate)} ({o.level:.0%} CI {_signed(d.low)} to {_signed(d.high)})",
                }
            )
        if self.mcnemar is not None:
            m = self.mcnemar
            rows.append(
                {
                    "quantity": "McNemar exact (safe/unsafe)",
                    "value": f"p = {_p(m.p_value)} ({m.b} safe→unsafe, {m.c} unsafe→safe)",
                }
            )
        if self.severity_counts is not None:
            rows.append(
                {
                    "quantity": "severity of regressions",
                    "value": ", ".join(f"{k} {v}" for k, v in self.severity_counts.items()),
                }
            )
        rows.append(
            {
                "quantity": "pairs analysed / excluded",
                "value": f"{self.n_pairs} / {self.n_excluded} (invalid verdicts: {o.label_a} {self.n_invalid_a}, "
                f"{o.label_b} {self.n_invalid_b})",
            }
        )
        rows += [{"quantity": str(k), "value": str(v)} for k, v in self.context.items()]
        return markdown_table(models) + "\n" + markdown_table(rows) + f"\n**Verdict:** {self.verdict()}\n"

    def plot_deltas(self) -> Figure:
        """Per-item B − A, sorted, coloured improved (green) / tied (grey) / worse (red), with the mean
        and its bootstrap CI as a line and band."""
        from demalign.reports import new_figure

        o = self.options
        fig = new_figure()
        ax = fig.add_subplot()
        labelled = [(item.delta, label) for item, label, _, _ in self._labelled() if label != "excluded"]
        labelled.sort(key=lambda entry: entry[0])
        colours = {"improved": "tab:green", "tied": "tab:gray", "worse": "tab:red"}
        if labelled:
            xs = np.arange(len(labelled))
            ax.bar(xs, [d for d, _ in labelled], width=1.0, color=[colours[lab] for _, lab in labelled])
        ax.axhline(0.0, color="black", linewidth=0.8)
        if self.delta.estimate is not None:
            ax.axhline(
                self.delta.estimate,
                color="tab:blue",
                linestyle="--",
                label=f"mean {_signed(self.delta.estimate)}",
            )
            if self.delta.low is not None and self.delta.high is not None:
                ax.axhspan(
                    self.delta.low, self.delta.high, color="tab:blue", alpha=0.15, label=f"{o.level:.0%} CI"
                )
            ax.legend(loc="upper left")
        ax.set_xlabel(f"items, sorted by delta ({self.n_pairs} pairs, {self.n_excluded} excluded)")
        ax.set_ylabel(f"{o.label_b} − {o.label_a}")
        ax.set_title("Per-item score difference")
        return fig


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _p(value: float | None) -> str:
    """A p-value with DART's stars: "0.0078 **"."""
    stars = significance_stars(value)
    return _num(value) + (f" {stars}" if stars else "")


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4g}"


def compare(
    items: Sequence[PairedItem],
    options: ComparisonOptions | None = None,
    *,
    context: Mapping[str, Any] | None = None,
) -> PairedReport:
    """Compare B with A on paired items.

    Worked example (higher is better, safe ≥ 4): A (3, 4, 5, 2, 4), B (4, 4, 3, 5, None) → item 5 is
    excluded (B invalid); over 4 pairs mean A 3.5, mean B 4.0, Δ mean +0.5, improved/tied/worse
    2/1/1, safe rate A 0.5 → B 0.75 (one safe→unsafe, two unsafe→safe: McNemar p = 1)."""
    o = options or ComparisonOptions()
    items = tuple(items)
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DataError(f"item id {item.id!r} appears twice; a paired comparison needs one row per item")
        seen.add(item.id)
    _, a, b = complete_arrays(items)
    n_invalid_a = sum(item.score_a is None for item in items)
    n_invalid_b = sum(item.score_b is None for item in items)
    safe_a, safe_b = o.safe(a), o.safe(b)
    boot = {"n_resamples": o.n_resamples, "level": o.level, "seed": o.seed}
    reg = regression(a, b, higher_is_better=o.higher_is_better)
    return PairedReport(
        options=o,
        items=items,
        n_invalid_a=n_invalid_a,
        n_invalid_b=n_invalid_b,
        summary_a=summarize(a, safe_a, n_valid=len(items) - n_invalid_a, n_invalid=n_invalid_a),
        summary_b=summarize(b, safe_b, n_valid=len(items) - n_invalid_b, n_invalid=n_invalid_b),
        outcomes=outcomes(a, b, higher_is_better=o.higher_is_better, tie_tolerance=o.tie_tolerance),
        delta=paired_bootstrap_ci(a, b, **boot),
        delta_safe_rate=None
        if safe_a is None or safe_b is None
        else paired_bootstrap_ci(safe_a.astype(float), safe_b.astype(float), **boot),
        wilcoxon=wilcoxon_signed_rank(a, b, zero_method=o.zero_method),
        mcnemar=None if safe_a is None or safe_b is None else mcnemar_exact(safe_a, safe_b),
        severity_counts=None if o.severity is None else severity_counts(reg, o.severity),
        context=dict(context or {}),
    )
