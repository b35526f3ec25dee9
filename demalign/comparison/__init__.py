"""Paired comparison of two models on the same items (curation, CAI and DART reuse it).

`pair_items` → `compare` → `PairedReport` (`as_record()` = report.json, `paired_rows()`,
`failure_rows()`, `markdown()`, `plot_deltas()`); the statistics are also usable one by one.
"""

from demalign.comparison.paired import PairedItem, check_paired, complete_arrays, pair_items
from demalign.comparison.report import ComparisonOptions, PairedReport, compare
from demalign.comparison.severity import (
    SEVERITY_LEVELS,
    SeverityThresholds,
    at_least,
    regression,
    severity_counts,
    severity_levels,
    severity_of,
)
from demalign.comparison.stats import (
    BootstrapCI,
    McNemarResult,
    ModelSummary,
    Outcomes,
    WilcoxonResult,
    mcnemar_exact,
    mcnemar_p_value,
    outcome_labels,
    outcomes,
    paired_bootstrap_ci,
    significance_stars,
    summarize,
    wilcoxon_signed_rank,
)

__all__ = [
    "SEVERITY_LEVELS",
    "BootstrapCI",
    "ComparisonOptions",
    "McNemarResult",
    "ModelSummary",
    "Outcomes",
    "PairedItem",
    "PairedReport",
    "SeverityThresholds",
    "WilcoxonResult",
    "at_least",
    "check_paired",
    "compare",
    "complete_arrays",
    "mcnemar_exact",
    "mcnemar_p_value",
    "outcome_labels",
    "outcomes",
    "pair_items",
    "paired_bootstrap_ci",
    "regression",
    "severity_counts",
    "severity_levels",
    "severity_of",
    "significance_stars",
    "summarize",
    "wilcoxon_signed_rank",
]
