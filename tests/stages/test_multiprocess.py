"""Two CPU processes under torchrun (gloo DDP) train the tiny model in ONE run folder; rank 0 alone writes
the manifest, the report and the checkpoint; rank 1 keeps its own log; the console has one report line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demalign import console
from demalign.artifacts import read_jsonl, write_jsonl
from demalign.training.synthetic import synthetic_pairs
from tests.unit.test_training_weighted import CACHE

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_cpu_processes_share_one_run_folder(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")  # installed with torch, beside this Python
    dataset = tmp_path / "dataset.jsonl"
    write_jsonl(dataset, synthetic_pairs(16, seed=5, weighted=True))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for name in console.QUIET_ENV:
        env.pop(name, None)
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--standalone",
         "-m", "demalign.run", "stage=train", f"train.dataset={dataset}", "train.eval_ratio=0.25",
         "trainer.use_cpu=true",  # accelerate's MULTI_CPU: DDP over gloo (else each rank trains alone)
         "trainer.per_device_train_batch_size=4", "trainer.max_length=96", "trainer.logging_steps=1",
         f"paths.cache_dir={CACHE}", f"paths.output_dir={tmp_path / 'outputs'}"],
        capture_output=True, text=True, timeout=600, cwd=REPO, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "outputs" / "train").iterdir()  # one folder for both ranks
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["processes"] == 2
    assert "checkpoint/model.safetensors" in manifest["outputs"]
    assert (run_dir / "checkpoint" / "model.safetensors").exists() and (run_dir / "report.md").exists()
    # 12 train pairs / (2 ranks x 4 per device) = 2 optimizer steps per epoch: the ranks split the data
    steps = [row["step"] for row in read_jsonl(run_dir / "train_metrics.jsonl") if "loss" in row]
    assert steps == [1, 2]
    assert (run_dir / "run.rank1.log").exists()
    assert done.stdout.count("Report:") == 1 and done.stdout.count("train … done in") == 1
    assert not [p.name for p in tmp_path.glob("outputs/*/*") if p != run_dir]
