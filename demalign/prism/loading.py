"""Load and validate the PRISM files (`survey.jsonl`, `utterances.jsonl`, optional `conversations.jsonl`).

Nested survey fields (`ethnicity`, `religion`, `location`) are flattened into dotted columns such
as `ethnicity.categorised` and `location.special_region`, which is how configs address them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from demalign.artifacts import read_jsonl
from demalign.errors import ConfigError, DataError

SURVEY_FILE = "survey.jsonl"
UTTERANCES_FILE = "utterances.jsonl"
CONVERSATIONS_FILE = "conversations.jsonl"

SURVEY_REQUIRED = ("user_id", "study_locale", "included_in_US_REP", "included_in_UK_REP")
UTTERANCE_REQUIRED = (
    "interaction_id",
    "conversation_id",
    "user_id",
    "turn",
    "within_turn_id",
    "user_prompt",
    "model_response",
    "score",
    "if_chosen",
    "model_name",
)
PRISM_SOURCE_HINT = (
    "Get PRISM from https://huggingface.co/datasets/HannahRoseKirk/prism-alignment "
    "(e.g. `huggingface-cli download HannahRoseKirk/prism-alignment --repo-type dataset --local-dir DIR`) "
    "and run with `data=prism data.root=DIR`, or use the bundled `data=sample`."
)


@dataclass
class PrismData:
    """The loaded dataset: one row per participant / rated response, plus raw conversations."""

    root: Path
    survey: pd.DataFrame  # index user_id, dotted columns
    utterances: pd.DataFrame  # one row per rated model response
    conversations: list[dict[str, Any]] | None
    files: list[Path]


def sample_root() -> Path:
    """The bundled synthetic sample (package data)."""
    return Path(str(resources.files("demalign.data").joinpath("sample")))


def _read_records(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """Parse a JSONL file; malformed lines and missing fields raise DataError with file:line."""
    records = read_jsonl(path, required)
    if not records:
        raise DataError(f"{path}: the file holds no records")
    return records


def survey_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Survey records as a frame indexed by `user_id`, nested dicts flattened to dotted columns."""
    frame = pd.json_normalize(list(records), sep=".")
    frame["user_id"] = frame["user_id"].astype(str)
    return frame.set_index("user_id", drop=False).rename_axis(None)


def _check_unique(values: pd.Series, path: Path, what: str) -> None:
    duplicated = values[values.duplicated()]
    if len(duplicated):
        line = int(duplicated.index[0]) + 1
        raise DataError(f"{path}:{line}: duplicate {what} {duplicated.iloc[0]!r}")


def load_prism(root: Path | str, with_conversations: bool = False) -> PrismData:
    """Load PRISM-schema files from `root`, validating as it goes."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"PRISM folder {root} does not exist. {PRISM_SOURCE_HINT}")
    paths = {name: root / name for name in (SURVEY_FILE, UTTERANCES_FILE)}
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"{path} is missing. {PRISM_SOURCE_HINT}")
    survey_records = _read_records(paths[SURVEY_FILE], SURVEY_REQUIRED)
    survey = survey_frame(survey_records)
    _check_unique(survey["user_id"].reset_index(drop=True), paths[SURVEY_FILE], "user_id")

    utterances = pd.DataFrame.from_records(_read_records(paths[UTTERANCES_FILE], UTTERANCE_REQUIRED))
    utterances["user_id"] = utterances["user_id"].astype(str)
    unknown_users = ~utterances["user_id"].isin(survey.index)
    if unknown_users.any():
        line = int(unknown_users.to_numpy().argmax()) + 1
        raise DataError(
            f"{paths[UTTERANCES_FILE]}:{line}: user_id {utterances['user_id'].iloc[line - 1]!r} "
            f"is not in {paths[SURVEY_FILE]}"
        )
    bad_scores = pd.to_numeric(utterances["score"], errors="coerce").isna()
    if bad_scores.any():
        line = int(bad_scores.to_numpy().argmax()) + 1
        raise DataError(
            f"{paths[UTTERANCES_FILE]}:{line}: score {utterances['score'].iloc[line - 1]!r} is not a number"
        )

    files = list(paths.values())
    conversations = None
    conversations_path = root / CONVERSATIONS_FILE
    if with_conversations and conversations_path.is_file():
        conversations = _read_records(conversations_path, ("conversation_id", "user_id"))
        files.append(conversations_path)
    return PrismData(root, survey, utterances, conversations, files)


def check_columns(frame: pd.DataFrame, columns: Iterable[str], config_key: str) -> None:
    """Raise a ConfigError naming the config key and listing the available columns."""
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        available = ", ".join(sorted(frame.columns))
        raise ConfigError(
            f"{config_key}: unknown column(s) {', '.join(unknown)}. Available columns: {available}"
        )


def load_configured(data_cfg: Any, with_conversations: bool = False) -> PrismData:
    """Load the dataset a `data` config group names: `source: bundled` = the bundled sample,
    `source: folder` = the files under `root`. Never one in place of the other."""
    source = data_cfg["source"]
    root = data_cfg.get("root")  # None when null or `???` (mandatory, unset)
    if source == "bundled":
        if root is not None:
            raise ConfigError(
                f"data.root={root} is set but data.source=bundled reads the bundled sample; "
                "set data.source=folder to read the files under data.root, or drop data.root"
            )
        return load_prism(sample_root(), with_conversations=with_conversations)
    if source != "folder":
        raise ConfigError(f"data.source={source!r}; choose one of ['bundled', 'folder']")
    if root is None or not str(root).strip():
        raise ConfigError(
            f"data.root is not set: data={data_cfg['name']} reads the PRISM files under data.root "
            f"(it never falls back to the bundled sample). {PRISM_SOURCE_HINT}"
        )
    return load_prism(root, with_conversations=with_conversations)
