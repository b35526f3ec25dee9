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


def _codes(votes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value ids (sorted) and the from / to codes of every vote into them."""
    codes, ids = pd.factorize(pd.concat([votes["from_id"], votes["to_id"]], ignore_index=True), sort=True)
    return (
        np.asarray(ids, dtype=object),
        codes[: len(votes)].astype(np.int64),
        codes[len(votes) :].astype(np.int64),
    )


def count_votes(
    votes: pd.DataFrame, weights: Mapping[str, float] | None = None, by_context: bool = False
) -> pd.DataFrame:
    """Counts per ordered pair (per pair and context with `by_context`) from a votes frame
    (`graph.load_votes` columns), sorted by source, wiser (and context). With `weights` each
    participant's votes count `weights[user]`; participants of weight 0 are left out altogether (a
    hard panel), so they add no impressions.

    Vectorised: pairs are integer keys source·N + wiser, and every count is one `np.bincount` over
    the votes in both directions (a million votes take well under a second)."""
    if weights is not None:
        w = votes["user_id"].map(weights)
        if w.isna().any():
            missing = votes.loc[w.isna(), "user_id"].iloc[0]
            raise ConfigError(f"democratic weighting: voter {missing!r} has no weight")
        keep = (w > 0).to_numpy()
        votes, w = votes[keep], w[keep].to_numpy(dtype=float)
    else:
        w = np.ones(len(votes))
    ids, a, b = _codes(votes)
    n = max(len(ids), 1)
    relationship = votes["relationship"].to_numpy()
    up = w * (relationship == "upgrade")
    zero = np.zeros(len(votes))
    forward, reverse = a * n + b, b * n + a
    if by_context:
        context_codes, context_ids = pd.factorize(votes["context"], sort=True)
        k = max(len(context_ids), 1)
        forward, reverse = forward * k + context_codes, reverse * k + context_codes
    # pandas' hash factorize: several times faster than np.unique's sort on a million keys
    index, keys = pd.factorize(np.concatenate([forward, reverse]), sort=True)
    columns = {
        "markedWiser": (up, zero), "markedNotWiser": (w * (relationship == "no_upgrade"), zero),
        "markedLessWise": (zero, up), "markedUnsure": (w * (relationship == "not_sure"), zero), "impressions": (w, w),
    }  # fmt: skip
    counts = {
        name: np.bincount(index, weights=np.concatenate(parts), minlength=len(keys))
        for name, parts in columns.items()
    }
    pair = keys // k if by_context else keys
    frame = {"source": ids[pair // n], "wiser": ids[pair % n]}
    if by_context:
        frame["context"] = np.asarray(context_ids, dtype=object)[keys % k]
    return pd.DataFrame({**frame, **{name: counts[name] for name in COUNT_FIELDS}})


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
    ids, a, b = _codes(votes)
    n = max(len(ids), 1)
    context_codes, context_ids = pd.factorize(votes["context"], sort=True)
    k = max(len(context_ids), 1)
    position = pd.Index(ids)
    wanted = edges[edges["kept"]] if only_kept else edges
    wanted_keys = position.get_indexer(wanted["source"]).astype(np.int64) * n + position.get_indexer(
        wanted["wiser"]
    )
    keys = np.concatenate([a * n + b, b * n + a])
    contexts = np.concatenate([context_codes, context_codes])
    mask = pd.Series(keys).isin(wanted_keys).to_numpy()
    pairs = np.unique(keys[mask] * k + contexts[mask])  # sorted by pair, then context code (= name order)
    names = np.asarray(context_ids, dtype=object)
    starts = np.flatnonzero(np.r_[True, np.diff(pairs // k) != 0])
    found = {
        int(key): tuple(names[pairs[lo:hi] % k])
        for key, lo, hi in zip(pairs[starts] // k, starts, np.r_[starts[1:], len(pairs)], strict=True)
    }
    all_keys = position.get_indexer(edges["source"]).astype(np.int64) * n + position.get_indexer(
        edges["wiser"]
    )
    return edges.assign(contexts=[found.get(int(key), ()) for key in all_keys])


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
