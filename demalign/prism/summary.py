"""Category counts of survey columns (the seed's data_explore.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from demalign.prism.loading import check_columns

MISSING = "(missing)"


def category_counts(
    survey: pd.DataFrame, columns: Sequence[str], config_key: str = "explore.columns"
) -> pd.DataFrame:
    """One row per (column, category): count and share of participants, most common first.

    >>> frame = pd.DataFrame({"gender": ["Male", "Female", "Male", None]})
    >>> category_counts(frame, ["gender"]).to_dict("list")["count"]
    [2, 1, 1]
    """
    check_columns(survey, columns, config_key)
    parts = []
    for column in columns:
        counts = survey[column].astype("object").fillna(MISSING).astype(str).value_counts(sort=False)
        counts = counts.sort_index().sort_values(ascending=False, kind="stable")
        parts.append(
            pd.DataFrame(
                {
                    "column": column,
                    "category": counts.index,
                    "count": counts.to_numpy(),
                    "share": (counts / max(len(survey), 1)).round(4).to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
