"""Full-size PRISM (1,500 users, ~70k utterances from the synthetic generator): load and prepare.

Targets from the Foundation issue: load < 5 s and < 1.5 GiB peak memory; prepare < 15 s. Each
figure is taken in a fresh process so peak RSS is the stage's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from demalign.prism import synthetic

LOAD_TARGET_S, LOAD_TARGET_MIB, PREPARE_TARGET_S = 5.0, 1536.0, 15.0

CHILD = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from demalign.prism.loading import load_prism
root, out = Path(sys.argv[1]), Path(sys.argv[2])
if sys.argv[3] == "load":
    data = load_prism(root)
    extra = {"utterances": len(data.utterances)}
else:
    from demalign.run import run_configured
    from tests.conftest import compose_config
    cfg = compose_config(["stage=prepare", "data=prism", f"data.root={root}", f"dataset.context={sys.argv[4]}"], out)
    run = run_configured(cfg, out / "run")
    extra = {"pairs": run.metrics["pairs"]}
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))
"""


def _measure(root: Path, out: Path, what: str, context: str = "none") -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(out), what, context],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "prism"
        synthetic.write(synthetic.generate(synthetic.PRISM_FULL_USERS, seed=0), root)
        load = _measure(root, Path(tmp) / "o1", "load")
        print(
            f"load full-size ({load['utterances']} utterances): {load['seconds']:.2f} s (target < {LOAD_TARGET_S} s, "
            f"ratio {load['seconds'] / LOAD_TARGET_S:.2f} of budget), peak {load['peak_mib']:.0f} MiB "
            f"(target < {LOAD_TARGET_MIB:.0f} MiB)"
        )
        for context in ("none", "history"):
            prep = _measure(root, Path(tmp) / f"o-{context}", "prepare", context)
            print(
                f"prepare full mode, context={context} ({prep['pairs']} pairs, incl. interpreter + imports): "
                f"{prep['seconds']:.2f} s (target < {PREPARE_TARGET_S} s), peak {prep['peak_mib']:.0f} MiB"
            )


if __name__ == "__main__":
    main()
