"""The PRISM loader: dotted columns, and errors that name the file, the line and the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from demalign.errors import ConfigError, DataError
from demalign.prism.loading import check_columns, load_prism, sample_root, survey_frame
from demalign.prism.summary import category_counts


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_rows(path: Path, edit) -> None:
    """Rewrite a JSONL file after `edit(rows)` changed its parsed rows in place."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    edit(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_nested_fields_become_dotted_columns() -> None:
    frame = survey_frame(
        [{"user_id": 3, "ethnicity": {"categorised": "Mixed"}, "location": {"special_region": "UK"}}]
    )
    assert frame.loc["3", "ethnicity.categorised"] == "Mixed"
    assert frame.loc["3", "location.special_region"] == "UK"


def test_sample_loads_with_prism_schema() -> None:
    data = load_prism(sample_root(), with_conversations=True)
    assert len(data.survey) == 200
    for column in (
        "ethnicity.categorised",
        "religion.categorised",
        "location.special_region",
        "included_in_US_REP",
    ):
        assert column in data.survey.columns
    assert set(data.utterances["user_id"]) <= set(data.survey.index)
    assert (
        data.conversations is not None
        and len(data.conversations) == data.utterances["conversation_id"].nunique()
    )


def test_missing_folder_says_where_to_get_prism(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"does not exist.*huggingface.co/datasets/HannahRoseKirk/prism-alignment.*data.root"
    ):
        load_prism(tmp_path / "nowhere")


def test_missing_file_is_named(tmp_path: Path, small_prism: Path) -> None:
    root = _copy(small_prism, tmp_path / "p")
    (root / "utterances.jsonl").unlink()
    with pytest.raises(DataError, match=r"utterances.jsonl is missing"):
        load_prism(root)


def test_malformed_line_reports_file_and_line(tmp_path: Path, small_prism: Path) -> None:
    root = _copy(small_prism, tmp_path / "p")
    path = root / "utterances.jsonl"
    lines = path.read_text().splitlines()
    lines[41] = lines[41][:-5]  # truncate line 42
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"utterances.jsonl:42: malformed JSON"):
        load_prism(root)


def test_missing_required_field_reports_field_file_and_line(tmp_path: Path, small_prism: Path) -> None:
    root = _copy(small_prism, tmp_path / "p")
    _edit_rows(root / "survey.jsonl", lambda rows: rows[9].pop("study_locale"))
    with pytest.raises(DataError, match=r"survey.jsonl:10: missing required field\(s\) study_locale"):
        load_prism(root)


def test_utterance_of_unknown_user_is_reported(tmp_path: Path, small_prism: Path) -> None:
    root = _copy(small_prism, tmp_path / "p")
    _edit_rows(root / "utterances.jsonl", lambda rows: rows[4].update(user_id="ghost"))
    with pytest.raises(DataError, match=r"utterances.jsonl:5: user_id 'ghost' is not in .*survey.jsonl"):
        load_prism(root)


def test_duplicate_user_is_reported(tmp_path: Path, small_prism: Path) -> None:
    root = _copy(small_prism, tmp_path / "p")
    path = root / "survey.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(DataError, match=rf"survey.jsonl:{len(lines) + 1}: duplicate user_id 'user0'"):
        load_prism(root)


def test_unknown_column_lists_available_ones() -> None:
    data = load_prism(sample_root())
    with pytest.raises(
        ConfigError,
        match=r"explore.columns: unknown column\(s\) ethnicity.*Available columns: .*ethnicity.categorised",
    ):
        check_columns(data.survey, ["gender", "ethnicity"], "explore.columns")


def test_category_counts_worked_example() -> None:
    """Four users: Male, Female, Male, missing -> Male 2 (0.5), Female 1, (missing) 1."""
    frame = survey_frame(
        [{"user_id": i, "gender": g} for i, g in enumerate(["Male", "Female", "Male", None])]
    )
    counts = category_counts(frame, ["gender"])
    assert counts[["category", "count", "share"]].values.tolist() == [
        ["Male", 2, 0.5],
        ["(missing)", 1, 0.25],
        ["Female", 1, 0.25],
    ]
