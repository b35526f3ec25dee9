"""`make bench`: run every tests/bench/bench_*.py module's `main()` (or those named on the command line).

Each benchmark prints our figure, the reference's figure measured in the same run, and the ratio.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"tests.bench.bench_{name}")
        print(f"\n=== bench {name} ===", flush=True)
        start = time.perf_counter()
        module.main()
        print(f"=== {name}: {time.perf_counter() - start:.1f} s ===", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
