"""stage=explore: how many participants fall in each category of the requested survey columns.

demalign stage=explore explore.columns=[study_locale,gender,age,ethnicity.categorised]
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.prism.loading import load_configured
from demalign.prism.summary import category_counts
from demalign.reports import markdown_table

log = logging.getLogger(__name__)


def run(cfg: DictConfig, run: Run) -> None:
    data = load_configured(cfg.data)
    for path in data.files:
        run.record_input(path)
    survey = data.survey
    if cfg.explore.locale_filter is not None:
        survey = survey[survey["study_locale"] == cfg.explore.locale_filter]

    counts = category_counts(survey, list(cfg.explore.columns))

    table = markdown_table(counts)
    print(counts.to_string(index=False))
    run.write_text("categories.csv", counts.to_csv(index=False))
    run.write_text("categories.md", table)
    run.metrics.update(participants=len(survey), columns=len(cfg.explore.columns))
    run.write_text(
        "report.md",
        f"## Survey categories\n\n{len(survey)} participants"
        f"{f' in study_locale {cfg.explore.locale_filter}' if cfg.explore.locale_filter else ''}.\n\n{table}",
    )
