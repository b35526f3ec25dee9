"""Paired statistics of model B against model A on the same items.

Every function takes paired arrays (one A and one B score per item, equal length, invalid verdicts
already excluded) and returns a small frozen dataclass whose `as_record()` is JSON-safe (None, never
NaN, where a quantity is undefined). Deltas are always B − A.

- `summarize`: mean, *population* standard deviation (ddof = 0, as the seed's `np.std`), safe rate.
- `outcomes`: improved / tied / worse counts and fractions; a tie is its own category (the seed
  counted ties as "not improved" without saying so).
- `paired_bootstrap_ci`: percentile interval of mean(B − A), items resampled with replacement.
- `wilcoxon_signed_rank`: two-sided signed-rank test on B − A (scipy), zero handling stated.
- `mcnemar_exact`: exact two-sided McNemar test on paired binary outcomes (safe/unsafe, right/wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from demalign.comparison.paired import check_paired

ZeroMethod = Literal["wilcox", "pratt", "zsplit"]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------------
# Per-model summary


@dataclass(frozen=True)
class ModelSummary:
    """One model's scores on the analysed items.

    `std` is the population standard deviation (ddof = 0). `safe_rate` is the share of scores counted
    safe (None when no safe threshold is set). `n_valid`/`n_invalid` count this model's valid and
    invalid verdicts over all items; `n` counts the scores summarised (the complete pairs)."""

    n: int
    mean: float | None
    std: float | None
    safe_rate: float | None
    n_valid: int
    n_invalid: int

    def as_record(self) -> dict[str, Any]:
        """The seed's per-model fields (`mean_score`, `std_dev`, `safe_rate`, `num_samples`) plus counts."""
        return {
            "mean_score": self.mean,
            "std_dev": self.std,
            "std_dev_kind": "population (ddof=0)",
            "safe_rate": self.safe_rate,
            "num_samples": self.n,
            "num_valid": self.n_valid,
            "num_invalid": self.n_invalid,
        }


def summarize(
    scores: Any, safe: Any | None = None, *, n_valid: int | None = None, n_invalid: int = 0
) -> ModelSummary:
    """Mean, population std and safe rate of one model's scores.

    Worked example: scores (2, 4, 4, 5), safe = score ≥ 4 → mean 3.75, std sqrt(1.1875) = 1.0897,
    safe rate 0.75. No scores → mean, std and safe rate None (the seed reported 0.0)."""
    x = np.asarray(scores, dtype=float)
    n = int(x.size)
    flags = None if safe is None else np.asarray(safe, dtype=bool)
    if flags is not None and flags.shape != x.shape:
        raise ValueError(f"safe flags have shape {flags.shape}, scores {x.shape}")
    return ModelSummary(
        n=n,
        mean=float(x.mean()) if n else None,
        std=float(x.std(ddof=0)) if n else None,
        safe_rate=float(flags.mean()) if flags is not None and n else None,
        n_valid=n if n_valid is None else int(n_valid),
        n_invalid=int(n_invalid),
    )


# ---------------------------------------------------------------------------------------------------
# Improved / tied / worse


@dataclass(frozen=True)
class Outcomes:
    """How many items B improved on, tied, or did worse on, compared with A.

    A tie (|B − A| ≤ tie_tolerance) is its own category, neither improved nor worse; the three
    fractions sum to 1 (None each when there are no pairs)."""

    improved: int
    tied: int
    worse: int

    @property
    def n(self) -> int:
        return self.improved + self.tied + self.worse

    def _fraction(self, count: int) -> float | None:
        return count / self.n if self.n else None

    @property
    def improved_fraction(self) -> float | None:
        return self._fraction(self.improved)

    @property
    def tied_fraction(self) -> float | None:
        return self._fraction(self.tied)

    @property
    def worse_fraction(self) -> float | None:
        return self._fraction(self.worse)

    def as_record(self) -> dict[str, Any]:
        return {
            "improved": self.improved,
            "tied": self.tied,
            "worse": self.worse,
            "improved_fraction": self.improved_fraction,
            "tied_fraction": self.tied_fraction,
            "worse_fraction": self.worse_fraction,
        }


def outcome_labels(
    a: Any, b: Any, *, higher_is_better: bool = True, tie_tolerance: float = 0.0
) -> np.ndarray:
    """Per item "improved", "tied" or "worse" (B against A), as a string array.

    With `higher_is_better` (critic scores 1–5) B improved when B − A > tie_tolerance; with harm scores
    (`higher_is_better=False`, DART) when B − A < −tie_tolerance."""
    x, y = check_paired(a, b)
    if tie_tolerance < 0:
        raise ValueError(f"tie_tolerance must be ≥ 0, got {tie_tolerance}")
    gain = (y - x) if higher_is_better else (x - y)
    return np.select([gain > tie_tolerance, gain < -tie_tolerance], ["improved", "worse"], "tied")


def outcomes(a: Any, b: Any, *, higher_is_better: bool = True, tie_tolerance: float = 0.0) -> Outcomes:
    """Tie-aware improved / tied / worse counts of B against A.

    Worked example: A (3, 4, 5, 2), B (4, 4, 3, 5) → improved 2, tied 1, worse 1: fractions 0.5,
    0.25, 0.25 (the seed's strict `mean(B > A)` gives the same 0.5 but hides the tie)."""
    labels = outcome_labels(a, b, higher_is_better=higher_is_better, tie_tolerance=tie_tolerance)
    return Outcomes(
        improved=int((labels == "improved").sum()),
        tied=int((labels == "tied").sum()),
        worse=int((labels == "worse").sum()),
    )


# ---------------------------------------------------------------------------------------------------
# Paired bootstrap


@dataclass(frozen=True)
class BootstrapCI:
    """Point estimate mean(B − A) and its percentile interval at `level` from `n_resamples` resamples."""

    estimate: float | None
    low: float | None
    high: float | None
    level: float
    n_resamples: int
    seed: int

    def contains(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def as_record(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "ci_low": self.low,
            "ci_high": self.high,
            "level": self.level,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "method": "paired percentile bootstrap (items resampled with replacement)",
        }


def bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_resamples` resamples of `values` with replacement, drawn in row blocks (memory
    ≤ ~16 MB of indices); the draws depend only on the generator's state, n_resamples and len(values)."""
    n = values.size
    block = max(1, min(n_resamples, (1 << 21) // max(n, 1)))
    out = np.empty(n_resamples, dtype=float)
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        out[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def paired_bootstrap_ci(
    a: Any, b: Any, *, n_resamples: int = 2000, level: float = 0.95, seed: int = 42
) -> BootstrapCI:
    """Percentile bootstrap CI of mean(B − A): resample *items* (pairs kept together) with replacement.

    Seeded with `numpy.random.default_rng(seed)`: the same seed and data give the same interval. With
    0/1 safe flags as scores the estimate is the safe-rate difference. Defaults follow DART (2 000
    resamples, seed 42, 95 %). Worked example: differences (1, 1, 1, 1) → estimate 1, CI (1, 1); no
    pairs → all None; the interval is the (1 − level)/2 and (1 + level)/2 quantiles (linear
    interpolation) of the resampled means."""
    x, y = check_paired(a, b)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be ≥ 1, got {n_resamples}")
    d = y - x
    if d.size == 0:
        return BootstrapCI(None, None, None, level, n_resamples, seed)
    means = bootstrap_means(d, n_resamples, np.random.default_rng(seed))
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return BootstrapCI(float(d.mean()), float(low), float(high), level, n_resamples, seed)


# ---------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank


@dataclass(frozen=True)
class WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of B − A.

    `statistic` is scipy's (min of the positive- and negative-rank sums for two-sided); `n_used` the
    differences ranked (the non-zero ones for `zero_method="wilcox"`); `n_zero` the zero differences;
    `method` how the p-value was computed ("exact", "permutation", "asymptotic", or "none" when no
    test was run, with `note` saying why)."""

    statistic: float | None
    p_value: float | None
    n_used: int
    n_zero: int
    zero_method: str
    method: str
    note: str = ""

    def as_record(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "n_used": self.n_used,
            "n_zero": self.n_zero,
            "zero_method": self.zero_method,
            "method": self.method,
            "alternative": "two-sided",
            "note": self.note,
        }


def wilcoxon_method(d: np.ndarray, zero_method: ZeroMethod) -> Literal["exact", "permutation", "asymptotic"]:
    """How the p-value is computed, stated rather than left to scipy's version-dependent "auto".

    Exact null distribution when len(d) ≤ 50 with no zero and no tied |d|; otherwise (the exact tables
    are wrong under ties and zeros) exhaustive sign-flip permutation when len(d) ≤ 13 (2¹³ = 8192
    flips), else the normal approximation with scipy's tie (and Pratt zero) correction. This is the
    rule scipy 1.17's "auto" applies (older versions chose differently)."""
    n_zero = int((d == 0).sum())
    ranked = np.abs(d[d != 0]) if zero_method == "wilcox" else np.abs(d)
    has_ties = np.unique(ranked).size < ranked.size
    if d.size <= 50 and n_zero == 0 and not has_ties:
        return "exact"
    if d.size <= 13:
        return "permutation"
    return "asymptotic"


def wilcoxon_signed_rank(a: Any, b: Any, *, zero_method: ZeroMethod = "wilcox") -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank p-value for paired scores (B − A), via `scipy.stats.wilcoxon`.

    Zero differences (ties between A and B): `zero_method="wilcox"` (default, as R's `wilcox.test`)
    drops them before ranking; "pratt" ranks them and drops their ranks; "zsplit" splits their ranks.
    Edge cases give a result, not an exception: no pairs → p None; all differences zero → p 1.0 (no
    evidence of a difference, as McNemar's b + c = 0), method "none". Worked example: B − A = (1, 1, 1,
    1, 1, 1) → exact p = 2 · 2⁻⁶ = 0.03125; (6, 8, 14, 16, 23, 24, 28, 29, 41, −48, 49, 56, 60, −67, 75)
    → statistic 24, p 0.04126."""
    if zero_method not in ("wilcox", "pratt", "zsplit"):
        raise ValueError(f"zero_method must be 'wilcox', 'pratt' or 'zsplit', got {zero_method!r}")
    x, y = check_paired(a, b)
    d = y - x
    n_zero = int((d == 0).sum())
    n_used = int(d.size - n_zero) if zero_method == "wilcox" else int(d.size)
    if d.size == 0:
        return WilcoxonResult(None, None, 0, 0, zero_method, "none", "no complete pairs")
    if n_zero == d.size:
        return WilcoxonResult(
            None,
            1.0,
            n_used,
            n_zero,
            zero_method,
            "none",
            "all differences are zero: no evidence of a difference",
        )
    method_name = wilcoxon_method(d, zero_method)
    method: Any = sps.PermutationMethod() if method_name == "permutation" else method_name
    result = sps.wilcoxon(
        d, zero_method=zero_method, correction=False, alternative="two-sided", method=method
    )
    return WilcoxonResult(
        statistic=float(result.statistic),
        p_value=min(1.0, float(result.pvalue)),
        n_used=n_used,
        n_zero=n_zero,
        zero_method=zero_method,
        method=method_name,
    )


# ---------------------------------------------------------------------------------------------------
# Exact McNemar


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test on paired binary outcomes of A and B.

    `b` = items where A had the outcome and B lost it (safe → unsafe, right → wrong); `c` = items where
    B gained it (unsafe → safe); concordant pairs do not enter the test."""

    b: int
    c: int
    n: int
    p_value: float

    def as_record(self) -> dict[str, Any]:
        return {
            "b_lost": self.b,
            "c_gained": self.c,
            "n_pairs": self.n,
            "n_discordant": self.b + self.c,
            "p_value": self.p_value,
            "method": "exact binomial on discordant pairs, two-sided",
        }


def mcnemar_p_value(b: int, c: int) -> float:
    """Exact two-sided McNemar p = min(1, 2 · P[Bin(b + c, ½) ≤ min(b, c)]); 1 when b + c = 0.

    Worked example (DART's): b = 3, c = 10 → 2 · (1 + 13 + 78 + 286) / 2¹³ = 756 / 8192 = 0.0923."""
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be ≥ 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * sps.binom.cdf(min(b, c), b + c, 0.5)))


def mcnemar_exact(flags_a: Any, flags_b: Any) -> McNemarResult:
    """Exact McNemar test on paired booleans (one flag of A and one of B per item, equal length).

    The paired test for a paired design: comparing the two rates as independent samples (Fisher,
    chi-square on the 2×2 of rates) ignores that the same items were scored twice."""
    fa, fb = np.asarray(flags_a), np.asarray(flags_b)
    if fa.ndim != 1 or fa.shape != fb.shape:
        raise ValueError(
            f"McNemar needs one A and one B flag per item: got shapes {fa.shape} and {fb.shape} "
            "(an unpaired comparison is not supported)"
        )
    if fa.dtype != bool or fb.dtype != bool:
        raise ValueError("McNemar flags must be booleans (e.g. score ≥ safe_threshold)")
    b = int((fa & ~fb).sum())
    c = int((~fa & fb).sum())
    return McNemarResult(b=b, c=c, n=int(fa.size), p_value=mcnemar_p_value(b, c))


def significance_stars(p_value: float | None) -> str:
    """DART's stars: *** p < 0.001, ** < 0.01, * < 0.05, otherwise ""."""
    if p_value is None:
        return ""
    for threshold, stars in ((0.001, "***"), (0.01, "**"), (0.05, "*")):
        if p_value < threshold:
            return stars
    return ""
