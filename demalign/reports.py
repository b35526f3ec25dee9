"""Markdown tables and matplotlib plots for each run folder's `report.md`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from demalign.artifacts import Run


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> str:
    """A GitHub-flavoured markdown table from a DataFrame or a list of dicts."""
    if hasattr(rows, "to_dict"):
        records = rows.to_dict(orient="records")  # type: ignore[union-attr]
        columns = list(columns or rows.columns)  # type: ignore[union-attr]
    else:
        records = list(rows)
        columns = list(columns or (records[0].keys() if records else []))
    lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(rec.get(c, "")) for c in columns) + " |" for rec in records]
    return "\n".join(lines) + "\n"


def new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    """A figure on the Agg backend (no display needed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(run: Run, name: str, fig: Figure) -> str:
    """Save a figure atomically into the run folder; returns the markdown image link."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    run.write_bytes(name, buffer.getvalue())
    return f"![{name}]({name})\n"
