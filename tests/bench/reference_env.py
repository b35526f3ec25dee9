"""The reference's own environment, `.venv-ref`: `sortition-algorithms[mip]` pins mip<2 (CBC backend),
which cannot share demalign's venv (mip 2.x), so the bench runs the reference with this interpreter.

`reference_python()` creates the venv on first use (pip, a few minutes), so `make bench` works from a
clean clone; it returns None, with the reason printed, if that fails (e.g. offline).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-ref"
PACKAGES = ["sortition-algorithms[mip]>=0.12", "numpy", "pandas"]
CHECK = "import sortition_algorithms, mip; assert int(mip.__version__.split('.')[0]) < 2"


def reference_python() -> Path | None:
    python = VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", CHECK], capture_output=True).returncode == 0:
        return python
    print(f"creating {VENV.name} for the reference (sortition-algorithms with mip<2) ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", *PACKAGES],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"could not build {VENV.name}: {' '.join(step)}\n{done.stderr[-2000:]}", flush=True)
            return None
    return python
