"""Upgrade votes -> edge counts -> DFT's edge summary (wiserLikelihood, entropy) -> kept edges.

Counting (DFT's `summarizeGraph`, both modes): a vote on a -> b (context c, relationship r) adds to
the ordered pair (a, b) one impression and one of markedWiser / markedNotWiser / markedUnsure, and to
the *reverse* pair (b, a) one impression and, when r = upgrade, one markedLessWise. Per pair:

    total           = markedWiser + markedNotWiser + markedUnsure + markedLessWise
    wiserLikelihood = (markedWiser - markedLessWise) / total

Two modes:

- `dft_compat` reproduces DFT's numbers: entropy is taken over all five count fields *including
  impressions* (so with no reverse votes it is 1 + H(votes)/2, never below 1), and an empty total
  gives NaN, which no threshold keeps (as in the TypeScript);
- `corrected` takes the entropy over the four vote counts only and guards empty totals (0).

A pair is kept when markedWiser > 0, wiserLikelihood >= min_wiser_likelihood, entropy <= max_entropy
and markedWiser >= min_marked_wiser (DFT: 0.33, 1.69, 2). Votes may carry per-participant weights
(democratic weighting): every count is then a sum of weights instead of a number of votes.

Worked example (the reference's): markedWiser 3, markedUnsure 1, impressions 4 -> dft_compat
entropy = -(3/8·log2 3/8 + 1/8·log2 1/8 + 4/8·log2 4/8) = 1.4056390622; corrected entropy
= -(3/4·log2 3/4 + 1/4·log2 1/4) = 0.8112781245.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demalign.errors import ConfigError
from demalign.moral_graph.graph import COUNT_FIELDS, MoralGraphExport

MODES = ("dft_compat", "corrected")
# The order DFT's counts object lists its fields in: the entropy loop (and so its rounding) follows it.
ENTROPY_ORDER = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")
VOTE_COUNTS = ENTROPY_ORDER[:4]
PAIR = ["source", "wiser"]


@dataclass(frozen=True)
class Thresholds:
    """DFT's edge filter; every number is a config key (`moral_graph.thresholds.*`)."""

    min_marked_wiser: float = 2.0
    min_wiser_likelihood: float = 0.33
    max_entropy: float = 1.69


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"moral_graph.mode={mode!r}; choose one of {list(MODES)}")
    return mode


def count_votes(
    votes: pd.DataFrame, weights: Mapping[str, float] | None = None, by_context: bool = False
) -> pd.DataFrame:
    """Counts per ordered pair (per pair and context with `by_context`) from a votes frame
    (`graph.load_votes` columns). With `weights` each participant's votes count `weights[user]`;
    participants of weight 0 are left out altogether (a hard panel), so they add no impressions."""
    if weights is not None:
        w = votes["user_id"].map(weights)
        if w.isna().any():
            missing = votes.loc[w.isna(), "user_id"].iloc[0]
            raise ConfigError(f"democratic weighting: voter {missing!r} has no weight")
        keep = (w > 0).to_numpy()
        votes, w = votes[keep], w[keep].to_numpy(dtype=float)
    else:
        w = np.ones(len(votes))
    relationship = votes["relationship"].to_numpy()
    up = w * (relationship == "upgrade")
    zero = np.zeros(len(votes))
    keys = ["context"] if by_context else []
    forward = pd.DataFrame({
        "source": votes["from_id"].to_numpy(), "wiser": votes["to_id"].to_numpy(),
        **{k: votes[k].to_numpy() for k in keys},
        "markedWiser": up, "markedNotWiser": w * (relationship == "no_upgrade"), "markedLessWise": zero,
        "markedUnsure": w * (relationship == "not_sure"), "impressions": w,
    })  # fmt: skip
    reverse = pd.DataFrame({
        "source": votes["to_id"].to_numpy(), "wiser": votes["from_id"].to_numpy(),
        **{k: votes[k].to_numpy() for k in keys},
        "markedWiser": zero, "markedNotWiser": zero, "markedLessWise": up, "markedUnsure": zero,
        "impressions": w,
    })  # fmt: skip
    counts = pd.concat([forward, reverse], ignore_index=True).groupby(PAIR + keys, sort=True).sum()
    return counts[list(COUNT_FIELDS)].reset_index()


def summarise(counts: pd.DataFrame, mode: str, thresholds: Thresholds) -> pd.DataFrame:
    """`counts` with wiserLikelihood, entropy and `kept` added (vectorised, DFT's operation order)."""
    check_mode(mode)
    c = {name: counts[name].to_numpy(dtype=float) for name in COUNT_FIELDS}
    total = c["markedWiser"] + c["markedNotWiser"] + c["markedUnsure"] + c["markedLessWise"]
    with np.errstate(invalid="ignore", divide="ignore"):
        likelihood = (c["markedWiser"] - c["markedLessWise"]) / total
        fields = ENTROPY_ORDER if mode == "dft_compat" else VOTE_COUNTS
        mass = np.zeros(len(counts))
        for name in fields:
            mass = mass + c[name]
        entropy = np.zeros(len(counts))
        for name in fields:
            p = c[name] / mass
            entropy = entropy - np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    if mode == "corrected":
        likelihood = np.where(total > 0, likelihood, 0.0)
    wiser = c["markedWiser"]
    kept = (
        (wiser > 0)
        & (likelihood >= thresholds.min_wiser_likelihood)
        & (entropy <= thresholds.max_entropy)
        & (wiser >= thresholds.min_marked_wiser)
    )
    return counts.assign(wiserLikelihood=likelihood, entropy=entropy, kept=kept)


def entropy_of(counts: Mapping[str, float], mode: str = "dft_compat") -> float:
    """The entropy of one edge's counts (missing fields are 0)."""
    frame = pd.DataFrame([{name: float(counts.get(name, 0)) for name in COUNT_FIELDS}])
    return float(summarise(frame, mode, Thresholds()).loc[0, "entropy"])


def attach_contexts(edges: pd.DataFrame, votes: pd.DataFrame, only_kept: bool = True) -> pd.DataFrame:
    """A `contexts` column (sorted tuple): the contexts of the votes on the pair in either direction,
    as DFT collects them. Computed only for kept pairs unless `only_kept=False` (a million-vote graph
    has far more pairs than kept edges); others get an empty tuple."""
    wanted = edges[edges["kept"]] if only_kept else edges
    both = pd.concat([
        pd.DataFrame({"source": votes["from_id"], "wiser": votes["to_id"], "context": votes["context"]}),
        pd.DataFrame({"source": votes["to_id"], "wiser": votes["from_id"], "context": votes["context"]}),
    ], ignore_index=True).drop_duplicates()  # fmt: skip
    both = both.merge(wanted[PAIR], on=PAIR)
    grouped = both.sort_values("context").groupby(PAIR, sort=False)["context"].agg(tuple)
    index = pd.MultiIndex.from_frame(edges[PAIR])
    contexts = grouped.reindex(index)
    return edges.assign(contexts=[c if isinstance(c, tuple) else () for c in contexts])


def export_counts(export: MoralGraphExport) -> pd.DataFrame:
    """The counts of an export's candidate edges (`allEdges` when present), with their contexts
    and the summary the export states (`stated_likelihood`, `stated_entropy`)."""
    rows = [
        {"source": e.source, "wiser": e.wiser, **e.counts, "contexts": tuple(e.contexts),
         "stated_likelihood": e.wiser_likelihood, "stated_entropy": e.entropy}
        for e in export.candidate_edges()
    ]  # fmt: skip
    return pd.DataFrame(
        rows, columns=[*PAIR, *COUNT_FIELDS, "contexts", "stated_likelihood", "stated_entropy"]
    )


def per_context_from_pooled(edges: pd.DataFrame) -> pd.DataFrame:
    """One row per (edge, context) of pooled edges: what an export without raw votes offers for a
    per-context graph (a multi-context edge counts in each of its contexts with its pooled summary)."""
    exploded = edges.explode("contexts").rename(columns={"contexts": "context"})
    return exploded.dropna(subset=["context"]).reset_index(drop=True)


def summary_mismatches(edges: pd.DataFrame, tolerance: float = 1e-9) -> list[dict]:
    """Edges whose stated summary differs from the recomputed one (an export from other maths)."""
    rows = []
    for row in edges.itertuples(index=False):
        for stated, computed in (("stated_likelihood", "wiserLikelihood"), ("stated_entropy", "entropy")):
            value = getattr(row, stated)
            if (
                value is not None
                and not pd.isna(value)
                and abs(float(value) - getattr(row, computed)) > tolerance
            ):
                rows.append({"source": row.source, "wiser": row.wiser, "field": computed,
                             "stated": float(value), "recomputed": float(getattr(row, computed))})  # fmt: skip
    return rows
