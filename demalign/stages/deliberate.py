"""A simulated deliberation by a sortition panel of PRISM users -> values cards and raw upgrade votes.

    demalign stage=deliberate                                        # offline: bundled sample, US panel, scripted participants
    demalign stage=deliberate deliberate.backend=litellm deliberate.model=gpt-4o-mini deliberate.question="..."

A panel is drawn from the `data` group's PRISM users under the `panel` group's quotas; each member
(their survey answers and their own PRISM conversations as the persona) articulates a values card,
votes on a seeded draw of peers' cards and votes upgrade / no_upgrade / not_sure on seeded transitions
between cards in the configured contexts. Writes `values.json` (the cards, DFT export schema, no
edges), `votes.jsonl` (raw votes: what moral_graph.votes reads), `demographics.csv` (the panel's
survey answers), `card_votes.jsonl` and `usage.jsonl`. Every call goes through the call cache in
`deliberate.cache_dir`; the same seed gives the same votes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.errors import ConfigError, DataError
from demalign.llm.cache import CallCache
from demalign.llm.execute import usage_rows, usage_section, usage_summary
from demalign.llm.roles import litellm_role
from demalign.moral_graph.deliberation import DeliberationSettings, deliberate, personas, simulated_role
from demalign.moral_graph.graph import bundled_dir, load_export
from demalign.panels import select_panel
from demalign.prism.loading import load_configured
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "deliberate"
SHARED = ("data", "panel")
BACKENDS = ("scripted", "litellm")
FILES = {"values": "values.json", "votes": "votes.jsonl", "demographics": "demographics.csv",
         "card_votes": "card_votes.jsonl"}  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    archetypes: Path  # the scripted participants' value cards (an export JSON; the bundled graph by default)

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.archetypes).expanduser() if opts.archetypes else bundled_dir() / "graph.json")


@dataclass(frozen=True)
class Outputs:
    values: Path  # the articulated cards in DFT's export schema (edges empty): moral_graph.path
    votes: Path  # raw upgrade votes: moral_graph.votes
    demographics: Path  # the panel members' survey answers (userId + columns): moral_graph.demographics
    card_votes: Path  # votes and impressions on peers' cards

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(**{field: Path(folder) / name for field, name in FILES.items()})


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    if opts.backend not in BACKENDS:
        raise ConfigError(f"deliberate.backend={opts.backend!r}; choose one of {list(BACKENDS)}")
    if not opts.contexts:
        raise ConfigError("deliberate.contexts is empty: give the contexts the upgrade votes are asked in")
    prism = load_configured(env.data, with_conversations=False)
    for path in prism.files:
        run.record_input(path)
    panel = select_panel(prism.survey, OmegaConf.to_container(env.panel, resolve=True))  # type: ignore[arg-type]
    people = personas(prism.survey, prism.utterances, panel.selected, list(opts.persona_columns),
                      int(opts.max_conversations))  # fmt: skip
    if opts.seed is None:
        raise ConfigError(
            "deliberate.seed is null: the card draws and transitions need a seed (e.g. ${seed})"
        )
    seed = int(opts.seed)
    run.seeds.update({"deliberate.seed": seed, "panel.seed": int(env.panel.seed)})
    if opts.backend == "scripted":
        archetypes = load_export(run.record_input(inputs.archetypes)).values
        role = simulated_role(archetypes, seed, int(opts.invalid_retries))
    else:
        role = litellm_role(opts, "deliberate")
    settings = DeliberationSettings(str(opts.question), tuple(str(c) for c in opts.contexts), int(opts.draw_size),
                                    int(opts.transitions_per_participant), seed)  # fmt: skip
    result = deliberate(people, settings, role, CallCache(Path(opts.cache_dir) / "calls.jsonl"))
    if not result.votes:
        raise DataError(
            f"deliberate: no upgrade vote parsed ({len(result.failures)} failed answers); see {run.dir}"
        )

    shown = {c: sum(v["valuesCardId"] == c for v in result.card_votes) for c in result.cards}
    voted = {c: sum(v["valuesCardId"] == c and v["voted"] for v in result.card_votes) for c in result.cards}
    run.write_json(FILES["values"], {
        "question": settings.question, "contexts": list(settings.contexts),
        "values": [{**card.as_export(), "votes": voted[c], "impressions": shown[c]} for c, card in result.cards.items()],
        "edges": [],
    })  # fmt: skip
    run.write_jsonl(FILES["votes"], result.votes)
    columns = [c for c in dict.fromkeys([*opts.persona_columns, *(a["column"] for a in env.panel.attributes)])
               if c in prism.survey.columns]  # fmt: skip
    demographics = prism.survey.loc[list(panel.selected), columns].rename_axis("userId").reset_index()
    run.write_text(FILES["demographics"], demographics.to_csv(index=False))
    run.write_jsonl(FILES["card_votes"], result.card_votes)
    run.write_jsonl("usage.jsonl", usage_rows("deliberate", result.calls, result.results))
    if result.failures:
        run.write_jsonl("failures.jsonl", result.failures)

    usage = usage_summary(result.results)
    counts = {
        r: sum(v["relationship"] == r for v in result.votes) for r in ("upgrade", "no_upgrade", "not_sure")
    }
    run.metrics.update(participants=len(people), cards=len(result.cards), upgrade_votes=len(result.votes),
                       relationships=counts, card_votes=len(result.card_votes), failures=len(result.failures),
                       backend=str(opts.backend), usage=usage)  # fmt: skip
    cards = [{"id": c, "title": card.title, "authors": len(result.authors.get(c, [])), "impressions": shown[c],
              "votes": voted[c], "votePercentage": voted[c] / shown[c] if shown[c] else None}
             for c, card in result.cards.items()]  # fmt: skip
    run.section(
        "Simulated deliberation",
        f"A {panel.algorithm} sortition panel of {len(people)} PRISM users ({env.data.name}, panel seed {panel.seed}) "
        f'deliberated on: "{settings.question}" through `{role.identity.name}` ({opts.backend}, seed {seed}). '
        f"{len(result.cards)} distinct values cards; {len(result.card_votes)} card impressions; "
        f"{len(result.votes)} upgrade votes in {len(settings.contexts)} contexts ({counts}); "
        f"{len(result.failures)} answers never parsed (left out, `failures.jsonl`).\n\n"
        + markdown_table(cards),
    )
    run.section("Tokens and cost", usage_section([{"part": "deliberate", **usage}]))
    return Outputs.in_folder(run.dir)
