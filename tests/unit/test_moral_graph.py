"""Moral graph maths with worked numbers: DFT's entropy example, thresholds at their boundaries,
PageRank by hand (DFT's variant) and against networkx (corrected), panel weights, validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.constitution.clauses import load_constitution
from demalign.errors import ConfigError, DataError
from demalign.moral_graph import synthetic
from demalign.moral_graph.aggregate import Thresholds, count_votes, entropy_of, summarise
from demalign.moral_graph.analysis import analyse_export, analyse_votes, export_document
from demalign.moral_graph.constitution import (
    clause_text,
    constitution_document,
    constitution_yaml,
    load_prompts,
)
from demalign.moral_graph.graph import (
    COUNT_FIELDS,
    ValueCard,
    bundled_dir,
    load_demographics,
    load_export,
    load_votes,
)
from demalign.moral_graph.preferences import preference_prompts, preference_rows
from demalign.moral_graph.ranking import RankSettings, pagerank, pagerank_dft, wisest_values
from demalign.moral_graph.weighting import (
    bridging_table,
    participant_weights,
    weight_shares,
    weights_from_probabilities,
    winner_changes,
)
from demalign.training.data import load_pairs

BUNDLED = bundled_dir()


def counts(**given: float) -> pd.DataFrame:
    return pd.DataFrame([{name: float(given.get(name, 0)) for name in COUNT_FIELDS}])


def votes(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(user, from, to, relationship) in one context."""
    return synthetic.vote_frame(
        [
            {"userId": u, "fromId": a, "toId": b, "contextId": "When x", "relationship": r}
            for u, a, b, r in rows
        ]
    )


# ---- aggregation ----------------------------------------------------------------------------------


def test_entropy_worked_example_of_the_reference() -> None:
    # wiser 3, unsure 1, impressions 4: DFT counts impressions in the entropy
    assert entropy_of({"markedWiser": 3, "markedUnsure": 1, "impressions": 4}) == pytest.approx(
        1.4056390622, abs=1e-10
    )
    # corrected: over the votes only, H(3/4, 1/4)
    assert entropy_of({"markedWiser": 3, "markedUnsure": 1, "impressions": 4}, "corrected") == pytest.approx(
        0.8112781245, abs=1e-10
    )


def test_dft_entropy_with_no_reverse_votes_is_one_plus_half_the_vote_entropy() -> None:
    """The quirk: impressions are half the mass, so entropy = 1 + H(votes)/2 and never below 1."""
    for w, nw, u in [(5, 0, 0), (4, 2, 1), (2, 2, 2)]:
        n = w + nw + u
        h = -sum(c / n * math.log2(c / n) for c in (w, nw, u) if c)
        given = {"markedWiser": w, "markedNotWiser": nw, "markedUnsure": u, "impressions": n}
        assert entropy_of(given) == pytest.approx(1 + h / 2, abs=1e-12)
        assert entropy_of(given, "corrected") == pytest.approx(h, abs=1e-12)


def test_counting_adds_the_reverse_pair_as_less_wise() -> None:
    frame = count_votes(votes(("u1", "a", "b", "upgrade"), ("u2", "a", "b", "upgrade"),
                              ("u3", "a", "b", "not_sure"), ("u4", "b", "a", "upgrade"),
                              ("u5", "a", "b", "no_upgrade")))  # fmt: skip
    rows = {(r.source, r.wiser): r for r in frame.itertuples(index=False)}
    ab, ba = rows[("a", "b")], rows[("b", "a")]
    assert (ab.markedWiser, ab.markedNotWiser, ab.markedUnsure, ab.markedLessWise, ab.impressions) == (
        2,
        1,
        1,
        1,
        5,
    )
    assert (ba.markedWiser, ba.markedNotWiser, ba.markedUnsure, ba.markedLessWise, ba.impressions) == (
        1,
        0,
        0,
        2,
        5,
    )
    summary = summarise(frame, "dft_compat", Thresholds()).set_index(["source", "wiser"])
    assert summary.loc[("a", "b"), "wiserLikelihood"] == pytest.approx((2 - 1) / 5)
    assert summary.loc[("b", "a"), "wiserLikelihood"] == pytest.approx((1 - 2) / 3)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ({"markedWiser": 2, "impressions": 2}, True),  # markedWiser exactly 2
        ({"markedWiser": 1, "impressions": 1}, False),  # one below
        ({"markedWiser": 33, "markedNotWiser": 67, "impressions": 100}, True),  # likelihood exactly 0.33
        ({"markedWiser": 32, "markedNotWiser": 68, "impressions": 100}, False),  # 0.32
    ],
)
def test_thresholds_at_their_boundaries(given: dict, kept: bool) -> None:
    assert bool(summarise(counts(**given), "dft_compat", Thresholds()).loc[0, "kept"]) is kept


def test_entropy_threshold_keeps_equal_and_drops_just_above() -> None:
    given = counts(markedWiser=3, markedUnsure=1, impressions=4)
    exact = 1.4056390622295665
    assert bool(summarise(given, "dft_compat", Thresholds(max_entropy=exact)).loc[0, "kept"])
    below = float(np.nextafter(exact, 0))
    assert not bool(summarise(given, "dft_compat", Thresholds(max_entropy=below)).loc[0, "kept"])
    assert bool(summarise(given, "dft_compat", Thresholds()).loc[0, "kept"])  # 1.4056 <= DFT's 1.69


def test_corrected_likelihood_guards_empty_total() -> None:
    """DFT divides by a zero total (NaN, silently dropped); corrected mode says 0."""
    given = counts(impressions=3)  # the reverse pair of three no_upgrade votes
    dft = summarise(given, "dft_compat", Thresholds())
    assert math.isnan(dft.loc[0, "wiserLikelihood"]) and not dft.loc[0, "kept"]
    corrected = summarise(given, "corrected", Thresholds())
    assert corrected.loc[0, "wiserLikelihood"] == 0.0 and corrected.loc[0, "entropy"] == 0.0


def test_entropy_excludes_impressions_in_corrected_mode() -> None:
    """Known DFT bug: impressions inflate the entropy. Unanimous votes have entropy 0 in corrected mode."""
    given = counts(markedWiser=5, impressions=5)
    assert summarise(given, "dft_compat", Thresholds()).loc[0, "entropy"] == pytest.approx(1.0)
    assert summarise(given, "corrected", Thresholds()).loc[0, "entropy"] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from("abc"), st.sampled_from("abc"),
                          st.sampled_from(["upgrade", "no_upgrade", "not_sure"])), max_size=40))  # fmt: skip
def test_no_two_cycle_survives_dft_pooled_counting(raw: list) -> None:
    """Reverse-pair counting makes wiserLikelihood(a,b) and (b,a) opposite in sign: both cannot pass."""
    seen, rows = set(), []
    for user, a, b, r in raw:
        if a != b and (user, a, b) not in seen:
            seen.add((user, a, b))
            rows.append((f"u{user}", a, b, r))
    if not rows:
        return
    kept = summarise(count_votes(votes(*rows)), "dft_compat", Thresholds(min_marked_wiser=1))
    pairs = {(r.source, r.wiser) for r in kept.itertuples() if r.kept}
    assert not any((b, a) in pairs for a, b in pairs)


# ---- ranking --------------------------------------------------------------------------------------


def test_dft_pagerank_on_a_hand_computed_three_node_graph() -> None:
    """A -> B (w 0.6), A -> C (w 0.3), B -> C (w 1.0). A gets only the base (1-d)/N = 0.05;
    B = 0.05 + 0.85·0.05·(0.6/0.9); C = 0.05 + 0.85·(0.05·(0.3/0.9) + B). C is a sink: no redistribution."""
    ranking = pagerank_dft(["A", "A", "B"], ["B", "C", "C"], [0.6, 0.3, 1.0])
    b = 0.05 + 0.85 * 0.05 * (2 / 3)
    c = 0.05 + 0.85 * (0.05 / 3 + b)
    assert ranking.scores == pytest.approx({"A": 0.05, "B": b, "C": c}, abs=1e-15)
    assert ranking.iterations == 100 and ranking.sinks == ("C",)
    assert ranking.mass == pytest.approx(0.05 + b + c)  # 0.2590833: the rest leaked at C


def test_pagerank_redistributes_dangling_rank_in_corrected_mode() -> None:
    """Known DFT bug: rank leaks at sinks. The corrected PageRank keeps the mass at 1."""
    ranking = pagerank(["A", "A", "B"], ["B", "C", "C"], [0.6, 0.3, 1.0])
    assert ranking.mass == pytest.approx(1.0, abs=1e-12) and ranking.converged
    assert max(ranking.scores, key=ranking.scores.get) == "C"


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corrected_pagerank_matches_networkx(seed: int, weighted: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, size=(80, 2)) if a != b}
    sources = [f"v{a}" for a, _ in sorted(pairs)]
    targets = [f"v{b}" for _, b in sorted(pairs)]
    weights = rng.uniform(0.33, 1.0, size=len(pairs))
    ours = pagerank(sources, targets, weights if weighted else None, tolerance=1e-12, max_iter=10_000)
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(zip(sources, targets, weights, strict=True))
    theirs = nx.pagerank(graph, alpha=0.85, weight="weight" if weighted else None, tol=1e-12, max_iter=10_000)
    assert ours.converged and set(ours.scores) == set(theirs)
    for node, value in theirs.items():
        assert ours.scores[node] == pytest.approx(value, abs=1e-10)


def test_corrected_pagerank_stops_at_tolerance_not_fixed_iterations() -> None:
    loose = pagerank(["a", "b", "c"], ["b", "c", "a"], None, tolerance=1e-3, max_iter=1000)
    assert loose.converged and loose.iterations < 100
    capped = pagerank(["a", "b"], ["b", "c"], None, tolerance=1e-30, max_iter=3)
    assert not capped.converged and capped.iterations == 3


def test_wisest_values_sum_incoming_likelihood_above_one() -> None:
    edges = pd.DataFrame({"source": ["a", "b", "c", "a"], "wiser": ["d", "d", "d", "b"],
                          "wiserLikelihood": [0.5, 0.4, 0.2, 0.9], "kept": [True, True, True, True]})  # fmt: skip
    assert wisest_values(edges) == [("d", pytest.approx(1.1))]
    assert wisest_values(edges.assign(kept=[True, True, False, True])) == []  # 0.9 is not > 1


def test_bundled_export_winners_cycles_and_sinks() -> None:
    export = load_export(BUNDLED / "graph.json")
    assert len(export.values) == 8 and len(export.edges) == 9 and len(export.all_edges or ()) == 12
    assert any(len(e.contexts) == 2 for e in export.edges)  # the multi-context edge
    for mode in ("dft_compat", "corrected"):
        result = analyse_export(export, mode, Thresholds(), RankSettings())
        # DFT's thresholds keep exactly the published edges; over votes only, the split 2 -> 7 edge
        # (entropy 1.79 with impressions, 1.58 without) passes the same 1.69
        assert len(result.kept) == (9 if mode == "dft_compat" else 10)
        assert {w["context"]: w["value_id"] for w in result.winners} == {
            synthetic.C1: "3",
            synthetic.C2: "4",
            synthetic.C3: "6",
        }
        assert result.cycles == [("3", "4")] and result.sinks["sinks"] == ["6"]
    dft = analyse_export(export, "dft_compat", Thresholds(), RankSettings())
    assert dft.sinks["rank_sum"] < 1.0  # DFT's leak, reported
    stated = {(e.source, e.wiser): e.entropy for e in export.all_edges or ()}
    for row in dft.edges.itertuples():
        assert row.entropy == pytest.approx(stated[(row.source, row.wiser)], abs=1e-12)


def test_per_context_ranking_not_pooled() -> None:
    """Known DFT limitation: one pooled ranking. Corrected mode ranks each context's own votes, so the
    context where 3 -> 4 is upgraded has 4 first even though the pooled votes cancel out."""
    export = load_export(BUNDLED / "graph.json")
    raw = load_votes(BUNDLED / "votes.jsonl", export.values)
    corrected = analyse_votes(export.values, raw, "corrected", Thresholds(), RankSettings())
    pooled_pairs = set(zip(corrected.kept["source"], corrected.kept["wiser"], strict=True))
    per_context = corrected.per_context[corrected.per_context["kept"]]
    context_pairs = set(zip(per_context["source"], per_context["wiser"], per_context["context"], strict=True))
    assert ("4", "3") not in pooled_pairs and ("4", "3", synthetic.C1) in context_pairs


def test_export_document_round_trips(tmp_path: Path) -> None:
    export = load_export(BUNDLED / "graph.json")
    raw = load_votes(BUNDLED / "votes.jsonl", export.values)
    result = analyse_votes(export.values, raw, "dft_compat", Thresholds(), RankSettings(), all_contexts=True)
    path = tmp_path / "out.json"
    path.write_text(json.dumps(export_document(export.values, result, include_all_edges=True)))
    again = analyse_export(load_export(path), "dft_compat", Thresholds(), RankSettings())
    assert again.pooled.scores == pytest.approx(result.pooled.scores, abs=1e-15)
    assert list(again.kept["wiserLikelihood"]) == pytest.approx(list(result.kept["wiserLikelihood"]))


# ---- democratic weighting -------------------------------------------------------------------------


def test_panel_weighting_with_a_known_probability_vector() -> None:
    weights = weights_from_probabilities({"a": 0.5, "b": 0.25, "c": 0.25}, ["a", "b", "c"])
    assert weights == pytest.approx({"a": 1.5, "b": 0.75, "c": 0.75})
    frame = count_votes(votes(("a", "x", "y", "upgrade"), ("b", "x", "y", "upgrade"), ("c", "x", "y", "no_upgrade")),
                        weights)  # fmt: skip
    xy = frame.set_index(["source", "wiser"]).loc[("x", "y")]
    assert (xy.markedWiser, xy.markedNotWiser, xy.impressions) == pytest.approx((2.25, 0.75, 3.0))
    assert weights_from_probabilities({"a": 0.2}, ["a", "b"]) == pytest.approx({"a": 2.0, "b": 0.0})


def test_hard_panel_drops_the_votes_of_everyone_else() -> None:
    frame = count_votes(
        votes(("a", "x", "y", "upgrade"), ("b", "x", "y", "no_upgrade")), {"a": 1.0, "b": 0.0}
    )
    xy = frame.set_index(["source", "wiser"]).loc[("x", "y")]
    assert (xy.markedWiser, xy.markedNotWiser, xy.impressions) == (1, 0, 1)


def test_soft_weighting_changes_a_winner_and_reports_it() -> None:
    export = load_export(BUNDLED / "graph.json")
    raw = load_votes(BUNDLED / "votes.jsonl", export.values)
    people = load_demographics(BUNDLED / "demographics.csv", list(raw["user_id"].unique()))
    spec = {"panel_size": 15, "tolerance": 0.1, "algorithm": "leximin", "attributes": [
        {"name": "party", "column": "political_affiliation",
         "population_proportions": {"Democrat": 0.34, "Republican": 0.33, "Independent": 0.33}}]}  # fmt: skip
    weighting = participant_weights("soft", list(raw["user_id"].unique()), people, spec)
    mean = sum(weighting.weights.values()) / len(weighting.weights)
    assert mean == pytest.approx(1.0)
    by_party = people["political_affiliation"]
    assert (
        weighting.weights[by_party[by_party == "Democrat"].index[0]]
        < 1
        < weighting.weights[by_party[by_party == "Independent"].index[0]]
    )
    plain = analyse_votes(export.values, raw, "corrected", Thresholds(), RankSettings())
    weighted = analyse_votes(export.values, raw, "corrected", Thresholds(), RankSettings(), weighting.weights)
    changes = {row["context"]: row for row in winner_changes(plain.winners, weighted.winners)}
    assert changes[synthetic.C2]["changed"] and changes[synthetic.C2]["weighted_id"] == "4"
    assert not changes[synthetic.C3]["changed"]
    hard = participant_weights("hard", list(raw["user_id"].unique()), people, spec)
    assert sorted(set(hard.weights.values())) == [0.0, 1.0] and sum(hard.weights.values()) == 15


def test_weight_shares_before_and_after_weighting() -> None:
    people = pd.DataFrame({"party": ["L", "L", "R"]}, index=["a", "b", "c"])
    rows = weight_shares(people, {"a": 0.5, "b": 0.5, "c": 2.0}, ["party"], {"party": {"L": 0.5, "R": 0.5}})
    assert rows == [
        {"attribute": "party", "category": "L", "voters": 2, "share": pytest.approx(2 / 3),
         "weighted_share": pytest.approx(1 / 3), "target": 0.5},
        {"attribute": "party", "category": "R", "voters": 1, "share": pytest.approx(1 / 3),
         "weighted_share": pytest.approx(2 / 3), "target": 0.5},
    ]  # fmt: skip


def test_bridging_table_counts_upgrades_from_both_sides() -> None:
    raw = votes(("a", "x", "y", "upgrade"), ("b", "x", "y", "upgrade"), ("c", "z", "y", "upgrade"),
                ("a", "y", "z", "upgrade"), ("a", "x", "z", "no_upgrade"))  # fmt: skip
    people = pd.DataFrame({"party": ["L", "R", "R"]}, index=["a", "b", "c"])
    rows, groups = bridging_table(raw, people, "party")
    assert groups == ("R", "L")
    assert rows == [{"value_id": "y", "upgrades_R": 2, "upgrades_L": 1, "bridging": 1}]
    with pytest.raises(ConfigError, match=r"moral_graph\.bridging\.attribute='age'"):
        bridging_table(raw, people, "age")


# ---- validation -----------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_export_edge_naming_an_unknown_value_is_an_error(tmp_path: Path) -> None:
    document = json.loads((BUNDLED / "graph.json").read_text())
    document["edges"][3]["wiserValueId"] = 99
    path = write(tmp_path / "g.json", json.dumps(document))
    with pytest.raises(DataError, match=r"g\.json: edges\[3\]\.wiserValueId: value id '99' is not among"):
        load_export(path)


def test_vote_with_unknown_relationship_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "v.jsonl", '{"userId": "u", "fromId": "1", "toId": "2", "contextId": "c", '
                 '"relationship": "upgrade"}\n\n{"userId": "u", "fromId": "2", "toId": "3", "contextId": "c", '
                 '"relationship": "wiser"}\n')  # fmt: skip
    with pytest.raises(DataError, match=r"v\.jsonl:3: relationship 'wiser' is unknown"):
        load_votes(path)


def test_duplicate_vote_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "v.csv", "userId,fromId,toId,contextId,relationship\nu,1,2,c,upgrade\n"
                 "w,1,2,c,upgrade\nu,1,2,d,not_sure\n")  # fmt: skip
    with pytest.raises(
        DataError, match=r"v\.csv:4: duplicate vote: user 'u' already voted on '1' -> '2' at line 2"
    ):
        load_votes(path)


def test_vote_naming_an_unknown_value_names_field_and_id(tmp_path: Path) -> None:
    export = load_export(BUNDLED / "graph.json")
    path = write(tmp_path / "v.csv", "userId,fromId,toId,contextId,relationship\nu,1,42,c,upgrade\n")
    with pytest.raises(DataError, match=r"v\.csv:2: toId '42' is not a value id of the graph"):
        load_votes(path, export.values)


def test_moral_graph_elicitation_values_and_votes_are_read(tmp_path: Path) -> None:
    """MGE's value type is {id, policies, title?, description?} and its votes call the relationship `type`."""
    path = write(tmp_path / "mge.json", json.dumps({"values": [
        {"id": 1, "policies": ["MOMENTS when a choice opens up"], "title": "Openness", "description": "Keep options open."},
        {"id": 2, "policies": ["FEELINGS the person has not named", "HOPES they have"]},
    ], "edges": []}))  # fmt: skip
    values = load_export(path).values
    assert values["1"].instructions_short == "Keep options open." and values["2"].title == "Value 2"
    assert values["2"].evaluation_criteria == ("FEELINGS the person has not named", "HOPES they have")
    votes_path = write(
        tmp_path / "v.jsonl", '{"userId": "u", "fromId": 1, "toId": 2, "contextId": "c", "type": "upgrade"}\n'
    )
    assert load_votes(votes_path, values)["relationship"].tolist() == ["upgrade"]
    missing = write(tmp_path / "m.jsonl", '{"userId": "u", "fromId": 1, "toId": 2, "contextId": "c"}\n')
    with pytest.raises(DataError, match=r"m\.jsonl:1: missing field relationship"):
        load_votes(missing, values)


def test_csv_and_jsonl_votes_load_the_same(tmp_path: Path) -> None:
    jsonl = load_votes(BUNDLED / "votes.jsonl")
    rows = [json.loads(line) for line in (BUNDLED / "votes.jsonl").read_text().splitlines()]
    csv_path = tmp_path / "votes.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    from_csv = load_votes(csv_path)
    columns = ["user_id", "from_id", "to_id", "context", "relationship"]
    pd.testing.assert_frame_equal(jsonl[columns], from_csv[columns])


def test_bundled_votes_and_demographics_are_what_the_generator_writes(tmp_path: Path) -> None:
    synthetic.write_bundled(tmp_path)
    for name in ("votes.jsonl", "demographics.csv"):
        assert (tmp_path / name).read_text() == (BUNDLED / name).read_text(), name


# ---- constitution and preference data -------------------------------------------------------------


def card(**changes: object) -> ValueCard:
    base = {"id": "7", "title": "T", "instructions_short": "ChatGPT should help the person decide.",
            "instructions_detailed": "", "evaluation_criteria": ("OPTIONS open", "WHAT MATTERS")}  # fmt: skip
    return ValueCard(**{**base, **changes})  # type: ignore[arg-type]


def test_clause_text_names_context_instructions_and_rubric() -> None:
    assert clause_text("When making decisions", card()) == (
        "When making decisions, the assistant should help the person decide. A good answer attends to: "
        "OPTIONS open; WHAT MATTERS."
    )
    assert clause_text("giving feedback", card(evaluation_criteria=())).startswith(
        "When giving feedback, the"
    )


def test_constitution_file_loads_as_a_constitution(tmp_path: Path) -> None:
    export = load_export(BUNDLED / "graph.json")
    result = analyse_export(export, "dft_compat", Thresholds(), RankSettings())
    prompts = load_prompts(BUNDLED / "prompts.yaml")
    path = write(tmp_path / "c.yaml", constitution_yaml(
        constitution_document(result.winners, export.values, result.per_context, prompts, "bundled")))  # fmt: skip
    _, clauses = load_constitution(path)
    assert [c.id for c in clauses] == [1, 2, 3]
    assert clauses[0].text.startswith(
        "When a parent and child disagree, the assistant should help the people"
    )
    assert "NEEDS of each person involved" in clauses[0].text and len(clauses[0].questions) == 5


def test_preference_rows_pair_conditioned_and_plain_answers(tmp_path: Path) -> None:
    winners = [{"context": "When x", "value_id": "7"}]
    items = preference_prompts(winners, {"When x": ["p0", "p1", "p2"]}, per_context=2)
    assert [i.id for i in items] == ["c1_p0", "c1_p1"]
    rows, dropped = preference_rows(items, {"c1_p0": "good", "c1_p1": "same"}, {"c1_p0": "plain", "c1_p1": "same"},
                                    "Be helpful.")  # fmt: skip
    assert dropped == [{"id": "c1_p1", "why": "identical answers"}]
    path = tmp_path / "dataset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (pair,) = load_pairs(path)
    assert pair["prompt"] == [{"role": "system", "content": "Be helpful."}, {"role": "user", "content": "p0"}]
    assert pair["chosen"][0]["content"] == "good" and pair["rejected"][0]["content"] == "plain"


def test_vectorised_counting_equals_dfts_loop_on_random_votes() -> None:
    generated = synthetic.random_votes(40, 3_000, seed=5, n_users=60)
    assert not generated.duplicated(["user_id", "from_id", "to_id"]).any() and len(generated) == 3_000
    loop: dict[tuple[str, str], list[float]] = {}
    for a, b, r in zip(generated["from_id"], generated["to_id"], generated["relationship"], strict=True):
        counts = loop.setdefault((a, b), [0.0] * 5)
        counts[0] += r == "upgrade"
        counts[1] += r == "no_upgrade"
        counts[3] += r == "not_sure"
        counts[4] += 1
    for a, b, r in zip(generated["from_id"], generated["to_id"], generated["relationship"], strict=True):
        counts = loop.setdefault((b, a), [0.0] * 5)
        counts[2] += r == "upgrade"
        counts[4] += 1
    frame = count_votes(generated)
    ours = {
        (r[0], r[1]): list(r[2:]) for r in frame[["source", "wiser", *COUNT_FIELDS]].itertuples(index=False)
    }
    assert ours == loop
    pairs = list(zip(frame["source"], frame["wiser"], strict=True))
    assert pairs == sorted(pairs)  # sorted by source, then wiser
