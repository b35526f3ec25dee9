"""The moral graph drawn: node size by PageRank, edge width by wiserLikelihood, arrows towards the
wiser value (width grows from 0.5 at wiserLikelihood 0.3, so DFT's kept range 0.33..1 is visible), a two-cycle's edges curved so both show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from demalign.moral_graph.graph import ValueCard
from demalign.reports import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_DRAWN_NODES = 300
FULL_LABELS = 12  # beyond this a drawing is a hairball; the report says so instead


def graph_figure(
    kept: pd.DataFrame, scores: Mapping[str, float], values: Mapping[str, ValueCard], seed: int, title: str
) -> Figure:
    import networkx as nx

    graph = nx.DiGraph()
    for row in kept.itertuples(index=False):
        graph.add_edge(str(row.source), str(row.wiser), weight=float(row.wiserLikelihood))
    fig = new_figure(9, 6.5)
    axis = fig.add_subplot()
    axis.set_title(title)
    axis.axis("off")
    if not graph.number_of_nodes():
        axis.text(0.5, 0.5, "no edge passes the thresholds", ha="center")
        return fig
    layout = nx.spring_layout(graph, seed=seed, k=1.6 / max(1, graph.number_of_nodes()) ** 0.5)
    top = max(scores.values()) if scores else 1.0
    sizes = [300 + 2700 * scores.get(n, 0.0) / top for n in graph.nodes]
    nx.draw_networkx_nodes(
        graph, layout, ax=axis, node_size=sizes, node_color="#9ecae1", edgecolors="#3182bd"
    )
    for u, v, data in graph.edges(data=True):
        curved = graph.has_edge(v, u)
        nx.draw_networkx_edges(
            graph, layout, ax=axis, edgelist=[(u, v)], width=0.5 + 8 * max(0.0, data["weight"] - 0.3), arrowsize=14,
            edge_color="#636363", node_size=sizes, connectionstyle="arc3,rad=0.2" if curved else "arc3",
        )  # fmt: skip
    axis.margins(0.15)  # room for the labels of nodes at the border
    # titles for the top FULL_LABELS values by rank, ids for the rest: a 60-value graph stays readable
    titled = set(sorted(graph.nodes, key=lambda n: -scores.get(n, 0.0))[:FULL_LABELS])
    labels = {n: f"{n}: {values[n].title}" if n in values and n in titled else n for n in graph.nodes}
    nx.draw_networkx_labels(graph, layout, labels=labels, ax=axis, font_size=7)
    return fig
