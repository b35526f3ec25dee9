"""Democratic weighting: make the graph stand for a population, not for whoever showed up.

Given participants' demographics and a sortition panel spec (the panels package's vocabulary:
panel_size, tolerance, attributes with population proportions), each participant's votes count

- `soft`: their selection probability under the panel lottery (LEXIMIN exact, or LEGACY / random by
  Monte-Carlo), rescaled so the weights average 1 over the voters (a count stays on the scale of
  votes, so DFT's `markedWiser >= 2` keeps its meaning);
- `hard`: 1 if they sit on one drawn panel, else 0 (their votes are dropped);
- `none`: 1 (DFT).

Also the bridging table: values that participants on both sides of a split attribute upgraded to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from demalign.errors import ConfigError, DataError

WEIGHTINGS = ("none", "soft", "hard")


@dataclass(frozen=True)
class Weighting:
    """Per-participant vote weights and the panel result behind them (for the report)."""

    how: str
    weights: dict[str, float]
    panel: Any = None  # panels.HardPanel | panels.SoftPanel | None


def weights_from_probabilities(probabilities: Mapping[str, float], voters: Sequence[str]) -> dict[str, float]:
    """Selection probabilities -> vote weights with mean 1 over `voters` (a voter outside the panel's
    pool, e.g. filtered out by locale, has probability 0). Example: probabilities a 0.5, b 0.25,
    c 0.25 -> weights a 1.5, b 0.75, c 0.75."""
    voters = sorted(set(voters))
    raw = {user: float(probabilities.get(user, 0.0)) for user in voters}
    total = sum(raw.values())
    if total <= 0:
        raise DataError("democratic weighting: every voter has selection probability 0; check the panel spec")
    return {user: p * len(voters) / total for user, p in raw.items()}


def participant_weights(
    how: str, voters: Sequence[str], demographics: pd.DataFrame | None, panel_spec: Mapping[str, Any] | None
) -> Weighting:
    """Vote weights of `voters` under `how` (none | soft | hard) and the panel spec."""
    if how not in WEIGHTINGS:
        raise ConfigError(f"moral_graph.weighting.how={how!r}; choose one of {list(WEIGHTINGS)}")
    if how == "none":
        return Weighting(how, {user: 1.0 for user in voters})
    if demographics is None:
        raise ConfigError(
            f"moral_graph.weighting.how={how} needs participant demographics: set moral_graph.demographics"
        )
    from demalign.panels import select_panel, selection_probabilities

    pool = demographics.loc[demographics.index.isin(list(voters))]
    if how == "soft":
        soft = selection_probabilities(pool, dict(panel_spec or {}))
        return Weighting(how, weights_from_probabilities(soft.probabilities, voters), soft)
    hard = select_panel(pool, dict(panel_spec or {}))
    chosen = set(hard.selected)
    return Weighting(how, {user: 1.0 if user in chosen else 0.0 for user in voters}, hard)


def winner_changes(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per context: the unweighted and the weighted winner, and whether weighting changed it."""
    old = {row["context"]: row for row in before}
    new = {row["context"]: row for row in after}
    rows = []
    for context in sorted(set(old) | set(new)):
        a, b = old.get(context), new.get(context)
        rows.append({
            "context": context,
            "unweighted": a["title"] if a else None, "unweighted_id": a["value_id"] if a else None,
            "weighted": b["title"] if b else None, "weighted_id": b["value_id"] if b else None,
            "changed": (a or {}).get("value_id") != (b or {}).get("value_id"),
        })  # fmt: skip
    return rows


def bridging_table(
    votes: pd.DataFrame, demographics: pd.DataFrame, attribute: str, groups: Sequence[str] | None = None,
    min_votes: int = 1,
) -> tuple[list[dict], tuple[str, str]]:  # fmt: skip
    """Values both sides of `attribute` upgraded to: for each wiser value, the upgrade votes into it
    from group A and from group B (the two given, else the two largest among voters); a value
    bridges when each side cast at least `min_votes`. Sorted by the smaller side, largest first."""
    if attribute not in demographics.columns:
        raise ConfigError(
            f"moral_graph.bridging.attribute={attribute!r} is not a demographics column "
            f"(columns: {sorted(demographics.columns)})"
        )
    group_of = demographics[attribute].astype(str)
    upgrades = votes[votes["relationship"] == "upgrade"].assign(group=lambda f: f["user_id"].map(group_of))
    if groups is None:
        voters = group_of[group_of.index.isin(votes["user_id"])]
        top = (
            voters.value_counts().sort_index().sort_values(ascending=False, kind="stable").index[:2].tolist()
        )
        if len(top) < 2:
            raise DataError(f"bridging: voters fall in fewer than two {attribute} groups ({top})")
        groups = top
    a, b = (str(g) for g in groups)
    counts = upgrades.groupby(["to_id", "group"]).size().unstack(fill_value=0)
    rows = []
    for value, row in counts.iterrows():
        left, right = int(row.get(a, 0)), int(row.get(b, 0))
        if left >= min_votes and right >= min_votes:
            rows.append({"value_id": str(value), f"upgrades_{a}": left, f"upgrades_{b}": right,
                         "bridging": min(left, right)})  # fmt: skip
    rows.sort(key=lambda r: (-r["bridging"], r["value_id"]))
    return rows, (a, b)


def weight_shares(
    demographics: pd.DataFrame, weights: Mapping[str, float], columns: Sequence[str],
    targets: Mapping[str, Mapping[str, float]] | None = None,
) -> list[dict]:  # fmt: skip
    """Per attribute category: voters, their share of the voters, their share of the total vote
    weight, and the population target (when the panel spec gives one). Example: voters a, b in "L"
    and c in "R" with weights 0.5, 0.5, 2 -> L: 2 voters, share 0.667, weighted share 0.333."""
    voters = [user for user in weights if user in demographics.index]
    total = sum(weights[user] for user in voters)
    rows = []
    for column in columns:
        groups = demographics.loc[voters, column].astype(str)
        for category in sorted(groups.unique()):
            members = groups.index[groups == category]
            rows.append({
                "attribute": column, "category": category, "voters": len(members),
                "share": len(members) / len(voters), "weighted_share": sum(weights[u] for u in members) / total,
                "target": (targets or {}).get(column, {}).get(category),
            })  # fmt: skip
    return rows
