"""One pass over a moral graph: summarise the edges, rank (pooled and per context), and read off
winners, wisest values, cycles and sinks. The stage calls this once unweighted and, with a
democratic weighting, once more with the participants' weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from demalign.moral_graph.aggregate import (
    Thresholds,
    attach_contexts,
    check_mode,
    count_votes,
    export_counts,
    per_context_from_pooled,
    summarise,
)
from demalign.moral_graph.graph import MoralGraphExport, ValueCard
from demalign.moral_graph.ranking import (
    Ranking,
    RankSettings,
    cycles,
    rank_edges,
    rank_per_context,
    sink_report,
    winners,
    wisest_values,
)


@dataclass(frozen=True)
class GraphResult:
    """Everything computed from one set of counts."""

    mode: str
    edges: pd.DataFrame  # every candidate pair: counts, wiserLikelihood, entropy, kept, contexts
    per_context: pd.DataFrame  # (pair, context) rows the per-context rankings use
    pooled: Ranking  # the mode's PageRank over all contexts (DFT's pooled ranking)
    by_context: dict[str, Ranking]
    winners: list[dict]
    wisest: list[tuple[str, float]]
    cycles: list[tuple[str, ...]]
    sinks: dict

    @property
    def kept(self) -> pd.DataFrame:
        return self.edges[self.edges["kept"]]


def _finish(
    mode: str, edges: pd.DataFrame, per_context: pd.DataFrame, values: Mapping[str, ValueCard],
    settings: RankSettings, min_wisdom: float, max_cycle_length: int,
) -> GraphResult:  # fmt: skip
    pooled = rank_edges(edges, mode, settings)
    by_context = rank_per_context(per_context, settings)
    kept = edges[edges["kept"]]
    return GraphResult(
        mode, edges, per_context, pooled, by_context, winners(by_context, values),
        wisest_values(edges, min_wisdom), cycles(kept["source"], kept["wiser"], max_cycle_length),
        sink_report(pooled),
    )  # fmt: skip


def analyse_votes(
    values: Mapping[str, ValueCard], votes: pd.DataFrame, mode: str, thresholds: Thresholds,
    settings: RankSettings, weights: Mapping[str, float] | None = None, min_wisdom: float = 1.0,
    max_cycle_length: int = 4, all_contexts: bool = False,
) -> GraphResult:  # fmt: skip
    """From raw votes (`all_contexts`: collect the contexts of dropped pairs too, for `allEdges`). Per-context graphs: in `corrected` mode each context's votes are summarised
    on their own; in `dft_compat` the pooled kept edges are split by their contexts (as MAI's
    dataset builder filters DFT's graph)."""
    check_mode(mode)
    edges = attach_contexts(
        summarise(count_votes(votes, weights), mode, thresholds), votes, only_kept=not all_contexts
    )
    if mode == "corrected":
        per_context = summarise(count_votes(votes, weights, by_context=True), mode, thresholds)
    else:
        per_context = per_context_from_pooled(edges[edges["kept"]])
    return _finish(mode, edges, per_context, values, settings, min_wisdom, max_cycle_length)


def analyse_export(
    export: MoralGraphExport, mode: str, thresholds: Thresholds, settings: RankSettings,
    min_wisdom: float = 1.0, max_cycle_length: int = 4,
) -> GraphResult:  # fmt: skip
    """From an export's published counts (its `allEdges` when present, so the thresholds apply
    again); the summary is recomputed in `mode`. Per-context graphs split edges by their contexts."""
    check_mode(mode)
    edges = summarise(export_counts(export), mode, thresholds)
    per_context = per_context_from_pooled(edges[edges["kept"]])
    return _finish(mode, edges, per_context, export.values, settings, min_wisdom, max_cycle_length)


def export_document(
    values: Mapping[str, ValueCard], result: GraphResult, include_all_edges: bool = False
) -> dict:
    """The result in DFT's export schema (values referenced by a kept edge, with their pageRank)."""

    def edge(row: pd.Series) -> dict:
        return {
            "sourceValueId": row["source"], "wiserValueId": row["wiser"], "contexts": list(row["contexts"]),
            "counts": {name: _plain(row[name]) for name in
                       ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")},
            "summary": {"wiserLikelihood": _plain(row["wiserLikelihood"]), "entropy": _plain(row["entropy"])},
        }  # fmt: skip

    kept = result.kept
    referenced = set(kept["source"]) | set(kept["wiser"])
    document = {
        "values": [
            {**card.as_export(), "pageRank": result.pooled.scores.get(card.id)}
            for card in values.values()
            if card.id in referenced
        ],
        "edges": [edge(row) for _, row in kept.iterrows()],
    }
    if include_all_edges:
        document["allEdges"] = [edge(row) for _, row in result.edges.iterrows()]
    return document


def _plain(value: float) -> float | int | None:
    value = float(value)
    if value != value:  # NaN (dft_compat, empty total): JSON has no NaN
        return None
    return int(value) if value.is_integer() else value
