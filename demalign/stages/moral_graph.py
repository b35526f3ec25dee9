"""A moral graph (DFT export and/or raw votes) -> edge summary, rankings, winners per context, constitution.

    demalign stage=moral_graph                                        # the bundled synthetic graph, offline
    demalign stage=moral_graph moral_graph.path=edges.json            # a real DFT export
    demalign stage=moral_graph moral_graph=bundled_votes              # raw votes + demographics, panel-weighted
    demalign stage=moral_graph moral_graph.mode=corrected moral_graph.ranking.weighted=false

Writes `graph.json` (the recomputed export, DFT schema, values with pageRank), `edges.jsonl` (every
candidate pair: counts, wiserLikelihood, entropy, kept), `rankings.json` (pooled and per context),
`winners.json` (per-context winners with their cards and prompts: what `value_pairs` reads),
`constitution.yaml` (one clause per context; `constitution.path` for questions / evaluate / critique)
and the report: the graph drawn, winners, wisest values, cycles, sinks, the panel comparison and the
bridging table. With a democratic weighting the winners (and so the constitution) are the weighted ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.errors import ConfigError, DataError
from demalign.moral_graph.aggregate import Thresholds, check_mode, summary_mismatches
from demalign.moral_graph.analysis import GraphResult, analyse_export, analyse_votes, export_document
from demalign.moral_graph.constitution import constitution_document, constitution_yaml, load_prompts
from demalign.moral_graph.graph import bundled_dir, load_demographics, load_export, load_votes
from demalign.moral_graph.plot import MAX_DRAWN_NODES, graph_figure
from demalign.moral_graph.ranking import Ranking, RankSettings
from demalign.moral_graph.weighting import (
    Weighting,
    bridging_table,
    participant_weights,
    weight_shares,
    winner_changes,
)
from demalign.reports import markdown_table, save_figure

log = logging.getLogger(__name__)

OPTIONS = "moral_graph"
SHARED: tuple[str, ...] = ()
FILES = {
    "graph": "graph.json",
    "edges": "edges.jsonl",
    "rankings": "rankings.json",
    "winners": "winners.json",
    "constitution": "constitution.yaml",
}
BUNDLED = "bundled"


def _bundled_or(value: str | None, name: str) -> Path | None:
    if value is None:
        return None
    return bundled_dir() / name if str(value) == BUNDLED else Path(str(value)).expanduser()


@dataclass(frozen=True)
class Inputs:
    export: Path  # DFT export JSON: the value cards (and, without votes, the edges' counts)
    votes: Path | None  # raw upgrade votes (JSONL/CSV); None = summarise the export's counts
    demographics: Path | None  # participants' attributes (CSV/JSONL with userId), for weighting and bridging
    prompts: Path | None  # prompts per context (YAML): clause questions and preference prompts

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        export = Path(opts.path).expanduser() if opts.path else bundled_dir() / "graph.json"
        prompts = Path(opts.prompts).expanduser() if opts.prompts else None
        if prompts is None and not opts.path:
            prompts = bundled_dir() / "prompts.yaml"  # the bundled graph's contexts
        return cls(
            export,
            _bundled_or(opts.votes, "votes.jsonl"),
            _bundled_or(opts.demographics, "demographics.csv"),
            prompts,
        )


@dataclass(frozen=True)
class Outputs:
    graph: Path  # the recomputed export (DFT schema)
    edges: Path  # every candidate pair with counts, summary and kept
    rankings: Path  # pooled and per-context PageRank
    winners: Path  # per-context winners with value cards and prompts
    constitution: Path  # one clause per context

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(**{field: Path(folder) / name for field, name in FILES.items()})


def thresholds_of(opts: DictConfig) -> Thresholds:
    t = opts.thresholds
    return Thresholds(float(t.min_marked_wiser), float(t.min_wiser_likelihood), float(t.max_entropy))


def rank_settings_of(opts: DictConfig) -> RankSettings:
    r = opts.ranking
    return RankSettings(
        float(r.damping), int(r.iterations), float(r.tolerance), int(r.max_iter), bool(r.weighted)
    )


def ranking_record(ranking: Ranking) -> dict:
    return {"scores": dict(ranking.ordered()), "iterations": ranking.iterations, "converged": ranking.converged,
            "rank_sum": ranking.mass, "sinks": list(ranking.sinks), "edges": ranking.edges}  # fmt: skip


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    mode = check_mode(str(opts.mode))
    thresholds, settings = thresholds_of(opts), rank_settings_of(opts)
    export = load_export(run.record_input(inputs.export))
    values = export.values
    common = {"min_wisdom": float(opts.min_wisdom), "max_cycle_length": int(opts.max_cycle_length)}
    votes = demographics = None
    weighting: Weighting | None = None
    if inputs.votes is not None:
        votes = load_votes(run.record_input(inputs.votes), values)
        result = analyse_votes(values, votes, mode, thresholds, settings, None, **common,
                               all_contexts=bool(opts.include_all_edges))  # fmt: skip
        source = f"{len(votes)} raw votes of {votes['user_id'].nunique()} participants ({inputs.votes.name})"
    else:
        result = analyse_export(export, mode, thresholds, settings, **common)
        source = f"the counts published in {inputs.export.name} ({len(export.candidate_edges())} edges)"
    if inputs.demographics is not None:
        voters = list(votes["user_id"].unique()) if votes is not None else None
        demographics = load_demographics(run.record_input(inputs.demographics), voters)
    unweighted = result
    how = str(opts.weighting.how)
    if how != "none":
        if votes is None:
            raise ConfigError(f"moral_graph.weighting.how={how} needs raw votes: set moral_graph.votes")
        panel = OmegaConf.to_container(opts.weighting.panel, resolve=True)
        try:
            weighting = participant_weights(how, list(votes["user_id"].unique()), demographics, panel)  # type: ignore[arg-type]
        except ConfigError as err:  # the panels package names `panel.<key>`; here it lives under weighting
            raise ConfigError(str(err).replace("panel.", "moral_graph.weighting.panel.")) from None
        run.seeds["moral_graph.weighting.panel.seed"] = int(opts.weighting.panel.seed)
        result = analyse_votes(values, votes, mode, thresholds, settings, weighting.weights, **common,
                               all_contexts=bool(opts.include_all_edges))  # fmt: skip

    prompts = load_prompts(run.record_input(inputs.prompts)) if inputs.prompts is not None else {}
    run.write_json(FILES["graph"], export_document(values, result, bool(opts.include_all_edges)))
    run.write_jsonl(FILES["edges"], edge_rows(result))
    run.write_json(FILES["rankings"], {
        "mode": mode, "pooled": ranking_record(result.pooled),
        "by_context": {c: ranking_record(r) for c, r in result.by_context.items()},
    })  # fmt: skip
    contexts = sorted(w["context"] for w in result.winners)
    run.write_json(FILES["winners"], {
        "mode": mode, "weighting": how, "winners": result.winners,
        "values": {w["value_id"]: values[w["value_id"]].as_export() for w in result.winners},
        "prompts": {c: prompts.get(c, []) for c in contexts},
    })  # fmt: skip
    document = constitution_document(result.winners, values, result.per_context, prompts, inputs.export.name)
    run.write_text(FILES["constitution"], constitution_yaml(document))

    kept = result.kept
    run.metrics.update(
        mode=mode, values=len(values), candidate_edges=len(result.edges), kept_edges=len(kept),
        contexts=len(result.by_context), winners={w["context"]: w["value_id"] for w in result.winners},
        wisest=[v for v, _ in result.wisest], cycles=len(result.cycles), sinks=result.sinks["sink_count"],
        rank_sum=result.sinks["rank_sum"], converged=result.pooled.converged, weighting=how,
        clauses_without_questions=[c["id"] for c in document["clauses"] if not c.get("questions")],
    )  # fmt: skip
    _report(run, opts, result, unweighted, weighting, votes, demographics, values, source, thresholds, export)
    unprompted = [c["context"] for c in document["clauses"] if not c.get("questions")]
    if unprompted and prompts:
        run.section("Contexts without prompts", "These winners' clauses have no questions and no preference prompts "
                    "(spell the contexts as the export does in moral_graph.prompts):\n\n" + "\n".join(f"- {c}" for c in unprompted))  # fmt: skip
    if not result.winners:
        raise DataError(
            f"moral_graph: no edge of {source} passes the thresholds (markedWiser >= {thresholds.min_marked_wiser:g}, "
            f"wiserLikelihood >= {thresholds.min_wiser_likelihood:g}, entropy <= {thresholds.max_entropy:g}), so no "
            "context has a winner; see edges.jsonl and relax moral_graph.thresholds.* if that is intended"
        )
    return Outputs.in_folder(run.dir)


def edge_rows(result: GraphResult) -> list[dict]:
    columns = ["source", "wiser", "markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions",
               "wiserLikelihood", "entropy", "kept", "contexts"]  # fmt: skip
    rows = []
    for record in result.edges[columns].to_dict(orient="records"):
        record["contexts"] = list(record["contexts"])
        record["kept"] = bool(record["kept"])
        for key in ("wiserLikelihood", "entropy"):
            record[key] = None if record[key] != record[key] else float(record[key])  # NaN -> null
        rows.append(record)
    return rows


def _report(
    run: Run, opts: DictConfig, result: GraphResult, unweighted: GraphResult, weighting: Weighting | None,
    votes, demographics, values, source: str, thresholds: Thresholds, export,
) -> None:  # fmt: skip
    kept = result.kept
    run.section(
        "Moral graph",
        f"Mode `{result.mode}` on {source}: {len(result.edges)} candidate edges, {len(kept)} kept "
        f"(markedWiser >= {thresholds.min_marked_wiser:g}, wiserLikelihood >= {thresholds.min_wiser_likelihood:g}, "
        f"entropy <= {thresholds.max_entropy:g}), {len(set(kept['source']) | set(kept['wiser']))} values, "
        f"{len(result.by_context)} contexts. Pooled PageRank: "
        + ("DFT's variant (100 fixed steps, no dangling redistribution)" if result.mode == "dft_compat"
           else f"dangling redistribution, {result.pooled.iterations} steps, converged={result.pooled.converged}")
        + f"; ranks sum to {result.sinks['rank_sum']:.4f}.",
    )  # fmt: skip
    nodes = len(set(kept["source"]) | set(kept["wiser"]))
    if opts.plot and nodes <= MAX_DRAWN_NODES:
        figure = graph_figure(kept, result.pooled.scores, values, int(opts.plot_seed),
                              f"{result.mode}: node size = PageRank, edge width = wiserLikelihood")  # fmt: skip
        run.section("Graph", save_figure(run, "graph.png", figure))
    elif opts.plot:
        run.section("Graph", f"{nodes} values: too many to draw legibly (limit {MAX_DRAWN_NODES}).")
    unsettled = [c for c, ranking in result.by_context.items() if not ranking.converged]
    run.metrics["contexts_not_converged"] = unsettled
    run.section(
        "Winners per context",
        "Top value of each context's own PageRank; the constitution has one clause per row.\n\n"
        + markdown_table(
            result.winners, ["context", "value_id", "title", "rank", "runner_up", "margin", "edges"]
        )
        + (
            f"\nNot converged within moral_graph.ranking.max_iter: {', '.join(unsettled)}.\n"
            if unsettled
            else ""
        ),
    )
    wisest = [{"value_id": v, "title": values[v].title, "wisdom": s, "pageRank": result.pooled.scores.get(v)}
              for v, s in result.wisest]  # fmt: skip
    run.section(
        "Wisest values",
        f"Σ wiserLikelihood over kept edges into the value, > {float(opts.min_wisdom):g} (DFT's wisest-values list).\n\n"
        + (markdown_table(wisest) if wisest else "None.\n"),
    )
    cycle_rows = [{"length": len(c), "cycle": " -> ".join([*c, c[0]])} for c in result.cycles]
    sinks = result.sinks
    run.section(
        "Cycles and sinks",
        f"Cycles up to {opts.max_cycle_length} values (\"wiser than\" should be transitive; these are where it is "
        f"not): {len(result.cycles)}.\n\n" + (markdown_table(cycle_rows) if cycle_rows else "")
        + f"\nSinks (values no kept edge leaves): {sinks['sink_count']} of {sinks['nodes']} ({', '.join(sinks['sinks'])}); "
        f"rank on sinks {sinks['rank_on_sinks']:.4f}; ranks sum to {sinks['rank_sum']:.4f}, so "
        f"{sinks['rank_lost']:.4f} was lost at sinks" + (" (DFT's variant leaks it)." if result.mode == "dft_compat" else "."),
    )  # fmt: skip
    if export is not None and votes is None:
        mismatches = summary_mismatches(result.edges)
        if mismatches:
            run.section("Export summaries recomputed differently",
                        f"{len(mismatches)} stated summaries differ from `{result.mode}`'s.\n\n" + markdown_table(mismatches[:20]))  # fmt: skip
    if weighting is not None:
        changes = winner_changes(unweighted.winners, result.winners)
        panel = weighting.panel
        run.metrics["winner_changes"] = sum(r["changed"] for r in changes)
        spread = sorted(weighting.weights.values())
        attributes = list(opts.weighting.panel.attributes)
        columns = [str(a.column or a.name) for a in attributes]
        targets = {str(a.column or a.name): dict(a.population_proportions) for a in attributes}
        run.section(
            "Democratic weighting",
            f"`{weighting.how}` weighting from a {panel.algorithm} sortition panel of {panel.quotas.panel_size} "
            f"(seed {panel.seed}) over {len(weighting.weights)} voters; vote weights from {spread[0]:.3g} to "
            f"{spread[-1]:.3g} (mean 1" + (", 0 = not on the panel" if weighting.how == "hard" else "") + "). "
            f"{sum(r['changed'] for r in changes)} of {len(changes)} context winners change.\n\n"
            + markdown_table(changes, ["context", "unweighted", "weighted", "changed"])
            + "\nWho the votes stand for, before and after weighting (target = the panel spec's population share):\n\n"
            + markdown_table(weight_shares(demographics, weighting.weights, columns, targets)),
        )  # fmt: skip
    if demographics is not None and votes is not None and opts.bridging.attribute:
        groups = list(opts.bridging.groups) if opts.bridging.groups else None
        rows, (a, b) = bridging_table(votes, demographics, str(opts.bridging.attribute), groups,
                                      int(opts.bridging.min_votes))  # fmt: skip
        for row in rows:
            row["title"] = values[row["value_id"]].title
        run.metrics["bridging_values"] = [r["value_id"] for r in rows]
        run.section(
            "Bridging values",
            f"Values that participants on both sides of `{opts.bridging.attribute}` ({a} / {b}) upgraded to, "
            f"at least {opts.bridging.min_votes} upgrade vote(s) from each (unweighted).\n\n"
            + (markdown_table(rows) if rows else "None.\n"),
        )
