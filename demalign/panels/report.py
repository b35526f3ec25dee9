"""`panel.json`, `panel_report.csv` and `panel_report.png` content for a hard or soft panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from demalign.panels.spec import MISSING_CATEGORY, Quotas
from demalign.reports import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from demalign.panels.api import HardPanel, SoftPanel


def panel_json(result: HardPanel | SoftPanel) -> dict[str, Any]:
    """`{algorithm, panel_size, seed, quotas, selected | probabilities (+ std_error), committees}`, and for
    leximin the `certificate` of the distribution's exactness."""
    out: dict[str, Any] = {
        "algorithm": result.algorithm,
        "panel_size": result.quotas.panel_size,
        "seed": result.seed,
        "quotas": result.quotas.as_dict(),
    }
    if hasattr(result, "selected"):
        out["selected"] = list(result.selected)
    else:
        out["probabilities"] = result.probabilities
        out["std_error"] = result.std_error
        out["num_panel_samples"] = result.num_panel_samples
    out["committees"] = result.committees
    if result.certificate is not None:
        out["certificate"] = result.certificate
    return out


def panel_report_frame(pool: pd.DataFrame, quotas: Quotas, result: HardPanel | SoftPanel) -> pd.DataFrame:
    """Per attribute and category: target share, quota bounds, pool count, and the panel count
    (hard) or expected count Σ p_i (soft). `pool` is the filtered pool (or any frame containing it)."""
    soft = not hasattr(result, "selected")
    user_ids = list(result.probabilities) if soft else list(result.selected)
    if soft:
        members = pool.loc[pool.index.astype(str).isin(user_ids)]
        weights = pd.Series(result.probabilities).reindex(members.index.astype(str)).to_numpy()
    else:
        members = pool
        weights = pool.index.astype(str).isin(user_ids).astype(float)
    rows = []
    for (attribute, category), share, low, high in zip(
        quotas.categories, quotas.target_share, quotas.lower, quotas.upper, strict=True
    ):
        column = quotas.columns[quotas.attributes.index(attribute)]
        labels = members[column].where(members[column].notna(), MISSING_CATEGORY).astype(str).to_numpy()
        in_category = labels == category
        rows.append(
            {
                "attribute": attribute,
                "category": category,
                "target_share": share,
                "min": low,
                "max": high,
                "pool_count": int(in_category.sum()),
                ("expected_count" if soft else "panel_count"): float(np.sum(weights[in_category]))
                if soft
                else int(np.sum(weights[in_category])),
            }
        )
    return pd.DataFrame(rows)


def plot_panel_report(frame: pd.DataFrame) -> Figure:
    """One horizontal bar chart per attribute: panel (or expected) count against the quota band."""
    value_column = "panel_count" if "panel_count" in frame.columns else "expected_count"
    attributes = list(dict.fromkeys(frame["attribute"]))
    heights = [max(1.2, 0.28 * (frame["attribute"] == a).sum() + 0.6) for a in attributes]
    fig = new_figure(width=8.0, height=sum(heights))
    axes = fig.subplots(len(attributes), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, attribute in zip(axes, attributes, strict=True):
        rows = frame[frame["attribute"] == attribute]
        y = np.arange(len(rows))
        ax.barh(y, rows["max"] - rows["min"], left=rows["min"], color="#d9e6f2", label="quota [min, max]")
        ax.plot(rows[value_column], y, "o", color="#c0392b", label=value_column.replace("_", " "))
        ax.set_yticks(y, rows["category"], fontsize=7)
        ax.set_title(attribute, fontsize=9, loc="left")
        ax.invert_yaxis()
    axes[0].legend(fontsize=7, loc="lower right")
    axes[-1].set_xlabel("people on the panel")
    return fig
