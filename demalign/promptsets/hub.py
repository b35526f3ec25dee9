"""Hugging Face hub prompts: a dataset split loaded lazily with `datasets.load_dataset`, through the
column mapping; an unreachable hub or a missing dataset is a DataError saying what to do."""

from __future__ import annotations

from demalign.errors import ConfigError, DataError
from demalign.promptsets.rows import COLUMN_KEYS, KEY, ColumnMapping, PromptRow, map_records


def hub_label(dataset: str, split: str, data_dir: str | None) -> str:
    return f"{dataset} ({f'data_dir {data_dir}, ' if data_dir else ''}split {split})"


def _is_unreachable(err: BaseException) -> bool:
    """A connection problem or offline mode (datasets raises ConnectionError for both; huggingface_hub's
    OfflineModeIsEnabled is one; requests / httpx errors are not builtin ConnectionErrors)."""
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(
        names
        & {
            "LocalEntryNotFoundError",
            "OfflineModeIsEnabled",
            "ConnectionError",
            "ConnectTimeout",
            "ConnectError",
            "Timeout",
        }
    )


def load_hub(
    dataset: str,
    split: str,
    mapping: ColumnMapping,
    data_dir: str | None = None,
    revision: str | None = None,
) -> list[PromptRow]:
    """Prompts from a Hugging Face dataset split through `mapping`, loaded with
    `datasets.load_dataset(dataset, data_dir=..., split=..., revision=...)` (from the local cache when
    it is there, even offline). Unreachable hub and no cached copy → DataError naming the dataset and
    saying how to get it or use a local file."""
    import datasets  # lazy: a few seconds of import, only for this source

    label = hub_label(dataset, split, data_dir)
    try:
        data = datasets.load_dataset(dataset, data_dir=data_dir, split=split, revision=revision)
    except Exception as err:
        if _is_unreachable(err):
            raise DataError(
                f"cannot load the Hugging Face dataset {dataset!r}: the hub is unreachable "
                f"({type(err).__name__}: {err}) and datasets has no cached copy. Download it where the hub "
                f"is reachable (`huggingface-cli download {dataset} --repo-type dataset --local-dir DIR`) and "
                f"set {KEY}.dataset=DIR, or run once online so datasets caches it; or use a local file: "
                f"prompts=file {KEY}.path=<file.jsonl|csv>"
            ) from None
        if type(err).__name__ == "DatasetNotFoundError" or isinstance(err, FileNotFoundError):
            raise DataError(
                f"Hugging Face dataset {dataset!r} not found ({err}); check {KEY}.dataset and {KEY}.data_dir, "
                f"log in for a gated dataset, or use prompts=file"
            ) from None
        if isinstance(err, ValueError) and "split" in str(err).lower():
            raise ConfigError(f"{KEY}.split={split}: {err}") from None
        raise
    found = list(data.column_names)
    for role, column in mapping.roles():
        if column is not None and column not in found:
            raise DataError(
                f"{label}: no column {column!r} (the {role} column; columns found: {', '.join(found)}); "
                f"set {KEY}.{COLUMN_KEYS[role]}=<one of them>"
            )
    data = data.select_columns(mapping.columns())
    stem = "-".join(p for p in (dataset.rsplit("/", 1)[-1], data_dir, split) if p)
    records = ((f"{label} row {i}", record) for i, record in enumerate(data, start=1))
    rows = map_records(records, mapping, stem)
    if not rows:
        raise DataError(f"{label}: the split holds no rows")
    return rows
