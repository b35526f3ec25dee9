"""Sortition panels: quota specs, feasibility diagnosis, LEGACY, exact LEXIMIN, random, soft weights.

Public API (what the prepare stage uses):
    select_panel(pool, spec) -> HardPanel
    selection_probabilities(pool, spec) -> SoftPanel
    panel_json(result), panel_report_frame(pool, quotas, result), plot_panel_report(frame)
    build_quotas(spec, pool) -> (Quotas, filtered_pool)
"""

from demalign.panels.api import HardPanel, SoftPanel, select_panel, selection_probabilities
from demalign.panels.report import panel_json, panel_report_frame, plot_panel_report
from demalign.panels.spec import PanelSpec, Quotas, build_quotas

__all__ = [
    "HardPanel",
    "PanelSpec",
    "Quotas",
    "SoftPanel",
    "build_quotas",
    "panel_json",
    "panel_report_frame",
    "plot_panel_report",
    "select_panel",
    "selection_probabilities",
]
