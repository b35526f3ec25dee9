"""Atomic writes, JSONL errors with file:line, and secret redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from demalign.artifacts import atomic_open, read_jsonl, write_jsonl
from demalign.errors import DataError
from demalign.secrets import REDACTED, redact


def test_interrupted_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.jsonl"
    write_jsonl(target, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(target, rows())
    assert read_jsonl(target) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_atomic_open_creates_parents_and_readable_file(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "a" / "b.txt") as handle:
        handle.write("x")
    path = tmp_path / "a" / "b.txt"
    assert path.read_text() == "x" and path.stat().st_mode & 0o044


def test_missing_required_field_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1, "b": 2}\n\n{"a": 3}\n')
    with pytest.raises(DataError, match=r"x.jsonl:3: missing required field\(s\) b"):
        read_jsonl(path, required=["a", "b"])


def test_redact_keys_and_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123")
    cfg = {
        "api_key": "abc",
        "api_key_env": "OPENAI_API_KEY",
        "nested": {"cmd": "token=hf_secretvalue123"},
        "n": 3,
    }
    assert redact(cfg) == {
        "api_key": REDACTED,
        "api_key_env": "OPENAI_API_KEY",
        "nested": {"cmd": f"token={REDACTED}"},
        "n": 3,
    }


def test_build_directory_publishes_whole_folders_only(tmp_path: Path) -> None:
    """A build that fails leaves neither the target nor its staging folder; a finished one is renamed
    into place and never rebuilt; a build that loses the race to an identical one keeps the winner's."""
    from demalign.artifacts import build_directory

    target = tmp_path / "models" / "m1"

    def crash(staging: Path) -> None:
        (staging / "config.json").write_text("{}")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError, match="killed mid-build"):
        build_directory(target, crash)
    assert not target.exists() and list(target.parent.iterdir()) == []

    builds = []

    def build(staging: Path) -> None:
        builds.append(staging)
        (staging / "config.json").write_text('{"n": 1}')

    assert build_directory(target, build) == target and (target / "config.json").read_text() == '{"n": 1}'
    assert build_directory(target, build) == target and len(builds) == 1

    def lose_race(staging: Path) -> None:  # another process publishes first, while this one builds
        (staging / "config.json").write_text('{"n": 2}')
        other.mkdir(parents=True)
        (other / "config.json").write_text('{"n": 3}')
        (other / "weights.bin").write_text("x")

    other = tmp_path / "models" / "m2"
    assert build_directory(other, lose_race) == other and (other / "config.json").read_text() == '{"n": 3}'
    assert sorted(p.name for p in other.parent.iterdir()) == ["m1", "m2"]  # no staging folder left
