"""Leaderboards with bootstrap confidence intervals from the judge's verdicts.

Reads pairwise.jsonl (or preferences.jsonl) and/or listwise.jsonl, scores the models with every
method in `rank.methods` on each source, resamples questions for percentile intervals (the same
resamples for every method), and writes bradley_terry_scores.json, ranking_scores.json,
scores.png, win_rates.png and leaderboard.json (the Bradley-Terry leaderboard, also in the metrics).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.errors import ConfigError, DataError
from demalign.ranking import report
from demalign.ranking.bradley_terry import TIE_MODELS
from demalign.ranking.data import Comparisons, load_listwise, load_pairwise, load_preferences
from demalign.ranking.methods import METHODS, MethodScores, RankOptions, bootstrap_resamples, score_method
from demalign.reports import save_figure

log = logging.getLogger(__name__)

OPTIONS = "rank"
SHARED: tuple[str, ...] = ()
LEADERBOARD_METHOD = "bradley_terry"
LEADERBOARD = "leaderboard.json"
STYLE_METHOD = "bradley_terry_style"
KEMENY_EXACT_LIMIT = 20  # the subset DP holds 2^M·M numbers per resample


@dataclass(frozen=True)
class Inputs:
    pairwise: Path | None = None  # pairwise.jsonl from evaluate; the bootstrap resamples questions
    listwise: Path | None = None  # listwise.jsonl from evaluate; scored separately
    preferences: Path | None = None  # preferences.jsonl, used only without pairwise

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        given = {key: Path(str(opts[key])) for key in ("pairwise", "listwise", "preferences") if opts[key]}
        return cls(**given)


@dataclass(frozen=True)
class Outputs:
    bradley_terry_scores: Path
    ranking_scores: Path
    leaderboard: list[dict[str, Any]]  # rank, model, score, ci_low, ci_high (Bradley-Terry)
    leaderboard_method: str

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        board = json.loads((Path(folder) / LEADERBOARD).read_text(encoding="utf-8"))
        return cls(
            bradley_terry_scores=Path(folder) / "bradley_terry_scores.json",
            ranking_scores=Path(folder) / "ranking_scores.json",
            leaderboard=board["leaderboard"],
            leaderboard_method=board["method"],
        )


def run(settings: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    methods = _methods(settings)
    sources = _load_sources(settings, inputs, run)
    seed = int(env.seed if settings.seed is None else settings.seed)
    run.seeds["rank.seed"] = seed

    results: list[MethodScores] = []
    for comparisons in sources:
        options = _options(settings, comparisons)
        resamples = bootstrap_resamples(comparisons, int(settings.bootstrap_samples), seed)
        for method in methods:
            results.append(score_method(comparisons, method, options, resamples, float(settings.ci)))
        if comparisons.style is not None:
            results.append(score_method(comparisons, STYLE_METHOD, options, resamples, float(settings.ci)))

    main = next(r for r in results if r.method == LEADERBOARD_METHOD)
    style = next((r for r in results if r.method == STYLE_METHOD), None)
    run.write_json(
        "bradley_terry_scores.json", _bradley_terry_record(main, style, sources[0], settings, seed)
    )
    run.write_json("ranking_scores.json", [result.as_record() for result in results])
    forest = save_figure(run, "scores.png", report.forest_plot(results))
    heatmap = save_figure(run, "win_rates.png", report.win_rate_heatmap(sources[0]))

    run.metrics["leaderboard_method"] = f"{LEADERBOARD_METHOD} ({main.source})"
    run.metrics["leaderboard"] = report.leaderboard(main)
    run.write_json(
        LEADERBOARD, {"method": run.metrics["leaderboard_method"], "leaderboard": run.metrics["leaderboard"]}
    )
    if style is not None:
        run.metrics["leaderboard_style_control"] = report.leaderboard(style)
    run.metrics.update(
        {f"{c.source}_judgements": c.n_judgements for c in sources}
        | {f"{c.source}_invalid": c.n_invalid for c in sources}
        | {f"{c.source}_units": len(c.units) for c in sources}
    )
    for title, body in _report(settings, seed, sources, results, main, style, forest, heatmap):
        run.section(title, body)
    return Outputs.in_folder(run.dir)


def _methods(settings: DictConfig) -> list[str]:
    methods = [str(method) for method in settings.methods]
    unknown = [m for m in methods if m not in METHODS or m == STYLE_METHOD]
    if unknown:
        choices = ", ".join(m for m in METHODS if m != STYLE_METHOD)
        raise ConfigError(f"rank.methods: unknown method(s) {unknown}; choose from {choices}")
    if LEADERBOARD_METHOD not in methods:
        methods.insert(0, LEADERBOARD_METHOD)
    if settings.ties not in TIE_MODELS:
        raise ConfigError(f"rank.ties must be one of {TIE_MODELS}, got {settings.ties!r}")
    if not 0 < float(settings.ci) < 1:
        raise ConfigError(f"rank.ci must be between 0 and 1 (e.g. 0.95), got {settings.ci}")
    if int(settings.bootstrap_samples) < 0 or float(settings.prior) < 0:
        raise ConfigError("rank.bootstrap_samples and rank.prior must be non-negative")
    if not 1 <= int(settings.kemeny_exact_max) <= KEMENY_EXACT_LIMIT:
        raise ConfigError(f"rank.kemeny_exact_max must be between 1 and {KEMENY_EXACT_LIMIT}")
    return list(dict.fromkeys(methods))


def _input(path: Path | None, key: str, run: Run) -> Path | None:
    if path is None:
        return None
    if not path.is_file():
        raise DataError(f"rank.{key}={path}: file not found; point it at the evaluate stage's {key}.jsonl")
    return run.record_input(path)


def _load_sources(settings: DictConfig, inputs: Inputs, run: Run) -> list[Comparisons]:
    pairwise, listwise = _input(inputs.pairwise, "pairwise", run), _input(inputs.listwise, "listwise", run)
    preferences = None if pairwise else _input(inputs.preferences, "preferences", run)
    sources = []
    if pairwise:
        sources.append(load_pairwise(pairwise, with_style=bool(settings.style_control)))
    elif preferences:
        if settings.style_control:
            raise ConfigError(
                "rank.style_control needs rank.pairwise (responses per question), not preferences"
            )
        sources.append(load_preferences(preferences))
    if listwise:
        sources.append(load_listwise(listwise))
    if not sources:
        raise ConfigError(
            "stage=rank needs rank.pairwise, rank.listwise or rank.preferences "
            "(the files stage=evaluate writes); a recipe hands them over"
        )
    return sources


def _options(settings: DictConfig, comparisons: Comparisons) -> RankOptions:
    anchor = comparisons.models[0] if settings.anchor is None else str(settings.anchor)
    if anchor not in comparisons.models:
        raise ConfigError(
            f"rank.anchor={anchor!r} is not among the {comparisons.source} models {comparisons.models}"
        )
    return RankOptions(
        tie_model=str(settings.ties),
        prior=float(settings.prior),
        anchor=comparisons.models.index(anchor),
        scale=float(settings.scale),
        base_score=float(settings.base_score),
        kemeny_exact_max=int(settings.kemeny_exact_max),
    )


def _bradley_terry_record(
    main: MethodScores, style: MethodScores | None, comparisons: Comparisons, settings: DictConfig, seed: int
) -> dict[str, Any]:
    record = main.as_record() | {
        "anchor": comparisons.models[0] if settings.anchor is None else settings.anchor,
        "base_score": float(settings.base_score),
        "scale": float(settings.scale),
        "prior": float(settings.prior),
        "bootstrap_samples": int(settings.bootstrap_samples),
        "bootstrap_unit": comparisons.unit_name,
        "ci": float(settings.ci),
        "seed": int(seed),
        "n_units": len(comparisons.units),
        "n_judgements": comparisons.n_judgements,
        "n_invalid": comparisons.n_invalid,
    }
    if style is not None:
        record["style_control"] = style.as_record()
    return record


def _report(
    settings: DictConfig,
    seed: int,
    sources: list[Comparisons],
    results: list[MethodScores],
    main: MethodScores,
    style: MethodScores | None,
    forest: str,
    heatmap: str,
) -> list[tuple[str, str]]:
    """The report's sections, in order: (title, markdown)."""
    sections: list[tuple[str, str]] = []
    lines: list[str] = []
    for c in sources:
        lines.append(
            f"- **{c.source}**: {len(c.models)} models, {c.n_judgements} valid judgements over {len(c.units)} "
            f"{c.unit_name}s; {c.n_invalid} invalid judgements excluded."
        )
        lines += [f"  - Note: {note}" for note in c.notes]
    lines.append(
        f"- Bootstrap: {settings.bootstrap_samples} resamples of {sources[0].unit_name}s, "
        f"{float(settings.ci):.0%} percentile intervals, seed {seed}; ties: {settings.ties}; "
        f"prior λ = {settings.prior}. The anchor's interval has zero width by construction.\n"
    )
    sections.append(("Ranking", "\n".join(lines)))
    lines = [report.leaderboard_table(main)]
    if "note" in main.details:
        lines.append(f"> {main.details['note']}\n")
    sections.append((f"Leaderboard: {report.label(main)}", "\n".join(lines)))
    if style is not None:
        coefficients = ", ".join(
            f"{k} {v:+.3f}" for k, v in style.details.get("style_coefficients", {}).items()
        )
        sections.append((
            "Leaderboard with style control",
            "Bradley-Terry with covariates for the normalised response-length and markdown differences "
            f"(logit per unit of (a − b)/(a + b + 1): {coefficients}), so a model does not win by being longer.\n"
            + report.leaderboard_table(style),
        ))  # fmt: skip
    lines = ["`score [CI low, CI high] (#rank)`\n"]
    for source in dict.fromkeys(r.source for r in results):
        lines.append(report.methods_table([r for r in results if r.source == source]))
    for result in results:
        if "kemeny_order" in result.details:
            d = result.details
            quality = (
                "exact optimum (subset DP)"
                if d["kemeny_exact"]
                else f"heuristic (insertion local search), at most {d['kemeny_gap']:g} above the optimum"
            )
            lines.append(
                f"- Kemeny ({result.source}): {' > '.join(d['kemeny_order'])} — {quality}; "
                f"{d['kemeny_disagreements']:g} pairwise disagreements, lower bound {d['kemeny_lower_bound']:g}."
            )
    sections.append(("All methods", "\n".join(lines)))
    sections.append(("Plots", forest + "\n" + heatmap))
    settings_yaml = OmegaConf.to_yaml(settings, resolve=True).rstrip()
    sections.append(("Settings", f"```yaml\n{settings_yaml}\n```\n"))
    return sections
