"""The quiet console: `demalign` in a subprocess prints a header, one line per stage and the report path;
library output (tqdm bars, warnings, INFO logs, the Trainer's log dicts) is in the run's `run.log`;
`verbose=true` puts it back on the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from demalign import console
from demalign.artifacts import write_jsonl
from demalign.training.synthetic import synthetic_pairs
from tests.unit.test_training_weighted import CACHE

REPO = Path(__file__).resolve().parents[2]
TRAIN_FAST = ["stage=train", "trainer.per_device_train_batch_size=4", "trainer.max_length=96",
              "trainer.logging_steps=1", "train.eval_ratio=0.25", f"paths.cache_dir={CACHE}"]  # fmt: skip
NOISE = re.compile(r"it/s\]|Warning|warnings\.warn|\[INFO\]|\{'loss'|%\|")  # bars, warnings, logs, log dicts


def demalign(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the CLI; returns the finished process and its run folder (the only one under tmp_path)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in console.QUIET_ENV:  # the test process's own settings must not leak into the child
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "demalign.run", *overrides, f"paths.output_dir={tmp_path / 'outputs'}"],
        capture_output=True, text=True, timeout=600, cwd=REPO, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (p.parent for p in (tmp_path / "outputs").rglob("manifest.json"))
    return done, run_dir


def test_prepare_is_quiet_and_its_log_holds_the_info_lines(tmp_path: Path) -> None:
    done, run_dir = demalign(tmp_path, "stage=prepare", "dataset_mode=soft")
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and done.stderr == "", done.stdout + done.stderr
    assert lines[0].startswith("demalign prepare: ") and lines[0].endswith("(details in run.log)")
    assert re.fullmatch(r"prepare … done in [0-9.]+ s", lines[1])
    assert lines[2] == f"prepare: done. Report: {run_dir / 'report.md'}"
    log = (run_dir / "run.log").read_text()
    assert "[demalign.stages.prepare][INFO] - soft:" in log and "LEXIMIN: relaxation in" in log


def test_verbose_shows_the_logs_on_the_terminal(tmp_path: Path) -> None:
    done, _ = demalign(tmp_path, "stage=prepare", "dataset_mode=soft", "verbose=true")
    assert "[demalign.stages.prepare][INFO] - soft:" in done.stdout
    assert "prepare … done in" in done.stdout


def test_explore_keeps_its_table_on_the_terminal(tmp_path: Path) -> None:
    done, _ = demalign(tmp_path, "stage=explore")
    assert "study_locale" in done.stdout and "explore … done in" in done.stdout
    assert not NOISE.search(done.stdout + done.stderr)


@pytest.mark.slow
def test_training_sends_bars_warnings_and_log_dicts_to_the_run_log(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset.jsonl"
    write_jsonl(dataset, synthetic_pairs(16, seed=5, weighted=True))
    done, run_dir = demalign(tmp_path, *TRAIN_FAST, f"train.dataset={dataset}")
    console_text = done.stdout + done.stderr
    assert not NOISE.search(console_text), console_text
    assert len(done.stdout.splitlines()) == 3 and done.stderr == "", console_text
    log = (run_dir / "run.log").read_text()
    assert "FutureWarning" in log and "'loss'" in log and "pin_memory" in log

    verbose, _ = demalign(tmp_path / "verbose", *TRAIN_FAST, f"train.dataset={dataset}", "verbose=true")
    assert "FutureWarning" in verbose.stderr and "'loss'" in verbose.stdout + verbose.stderr
