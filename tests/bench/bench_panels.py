"""Panels benchmark: ours vs the Sortition Foundation's `sortition-algorithms`, measured in the same run.

Instances (synthetic PRISM-shaped pools, 7 attributes): S 338/100/0.10 US-only with census targets
for gender/age/ethnicity (seed 2: the first generator seed whose S pool is feasible), M 700/150/0.05
and L 1500/300/0.05 with PRISM marginals. Each reference call runs in a subprocess with a time cap.

    python -m tests.bench panels                 # S, M, L (about 15 minutes)
    BENCH_PANELS=S python -m tests.bench panels  # a subset
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from omegaconf import OmegaConf

from tests.bench.reference_env import reference_python

INSTANCES = {  # name: (pool size, panel size, tolerance, generator seed, locale)
    "S": (338, 100, 0.10, 2, "us"),
    "M": (700, 150, 0.05, 2, None),
    "L": (1500, 300, 0.05, 3, None),
}
REFERENCE_CAP_S = {"legacy": 60, "maximin": 240}  # wall-clock cap per reference call (seconds)
LEGACY_PANELS = 2000
REFERENCE_LEGACY_PANELS = 5  # the reference's per-panel time from a few panels (each ~25–80 ms)
ROOT = Path(__file__).resolve().parents[2]


def instance_spec(name: str) -> dict:
    _, k, tolerance, _, _ = INSTANCES[name]

    def load(group: str) -> dict:
        """The panel spec as Hydra composes it: the shared mechanics, then the spec's own keys."""
        mechanics = OmegaConf.load(ROOT / "conf/panel_mechanics/default.yaml")
        own = OmegaConf.load(ROOT / f"conf/panel/{group}.yaml")
        own.pop("defaults", None)
        merged = OmegaConf.merge(mechanics, own)
        return OmegaConf.to_container(OmegaConf.create({"seed": 0, "p": merged}).p, resolve=True)

    prism = load("all_locales")
    if name == "S":
        us = load("us")
        census = [a for a in us["attributes"] if a["name"] in ("gender", "age", "ethnicity")]
        rest = [a for a in prism["attributes"] if a["name"] not in ("gender", "age", "ethnicity")]
        spec = {**us, "attributes": census + rest}
    else:
        spec = prism
    return {**spec, "panel_size": k, "tolerance": tolerance, "seed": 0}


def pool_for(name: str):
    from demalign.prism.loading import survey_frame
    from demalign.prism.synthetic import generate_survey

    n, _, _, seed, locale = INSTANCES[name]
    return survey_frame(generate_survey(n, seed, locale=locale))


def reference_tables(name: str) -> tuple[str, str]:
    """The instance as the reference's features/people CSV strings."""
    from demalign.panels.spec import build_quotas

    quotas, pool = build_quotas(instance_spec(name), pool_for(name))
    features = ["feature,value,min,max"] + [
        f'"{attribute}","{category}",{low},{high}'
        for (attribute, category), low, high in zip(
            quotas.categories, quotas.lower, quotas.upper, strict=True
        )
    ]
    columns = list(quotas.columns)
    frame = pool[columns].astype(str).copy()
    frame.columns = list(quotas.attributes)
    frame.insert(0, "id", frame.index.astype(str))
    return "\n".join(features) + "\n", frame.to_csv(index=False)


REFERENCE_SCRIPT = r"""
import json, sys, time
from sortition_algorithms import CSVStringDataSource, SelectionData, Settings, run_stratification
features_csv, people_csv, k, algorithm, count = sys.stdin.read().split("\x00")
k, count = int(k), int(count)
data = SelectionData(CSVStringDataSource(features_csv, people_csv))
features, _ = data.load_features(number_to_select=k)
seconds, ok, mins = [], 0, []
for i in range(count):
    settings = Settings(id_column="id", columns_to_keep=[], check_same_address=False,
                        selection_algorithm=algorithm, solver_backend="mip", random_number_seed=i + 1)
    people, _ = data.load_people(settings, features)
    start = time.perf_counter()
    success, panels, report = run_stratification(features, people, k, settings, number_selections=1)
    seconds.append(time.perf_counter() - start)
    ok += bool(success)
print(json.dumps({"seconds": seconds, "ok": ok}))
"""


def run_reference(name: str, algorithm: str, count: int) -> dict | None:
    """Run the reference (CBC backend, in `.venv-ref`) in a subprocess; None if that environment cannot
    be built, {'timeout': cap} if it ran past its cap, {'error': ...} if it failed."""
    python = reference_python()
    if python is None:
        return None
    features_csv, people_csv = reference_tables(name)
    payload = "\x00".join([features_csv, people_csv, str(INSTANCES[name][1]), algorithm, str(count)])
    cap = REFERENCE_CAP_S[algorithm]
    try:
        done = subprocess.run(
            [str(python), "-c", REFERENCE_SCRIPT],
            input=payload,
            capture_output=True,
            text=True,
            timeout=cap,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": cap}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_instance(name: str) -> None:
    import numpy as np

    from demalign.panels.api import prepare_instance
    from demalign.panels.legacy import legacy_panels, panel_generator
    from demalign.panels.leximin import leximin_distribution
    from demalign.panels.soft import monte_carlo_probabilities

    n, k, tolerance, _, _ = INSTANCES[name]
    print(f"\n--- {name}: pool {n}, panel {k}, tolerance {tolerance} ---", flush=True)
    spec, instance = prepare_instance(pool_for(name), instance_spec(name))

    generators = [panel_generator(0, i) for i in range(200)]
    start = time.perf_counter()
    panels = legacy_panels(instance, generators)
    ours_ms = (time.perf_counter() - start) / len(panels) * 1e3
    assert all(instance.meets_quotas(p) for p in panels)
    reference = run_reference(name, "legacy", REFERENCE_LEGACY_PANELS)
    print(f"LEGACY per panel: ours {ours_ms:.2f} ms (batch of 200, all quotas met)", end="")
    if reference is None:
        print("; reference environment .venv-ref unavailable")
    elif "timeout" in reference or "error" in reference or reference["ok"] < REFERENCE_LEGACY_PANELS:
        print(
            f"; reference FAILED to return a panel in each of its calls ({reference}; 100 attempts per call)"
        )
    else:
        reference_ms = float(np.mean(reference["seconds"])) * 1e3
        print(f"; reference {reference_ms:.1f} ms; ratio {reference_ms / ours_ms:.1f}x")

    soft_seconds = {}
    for workers in (1, 2):
        start = time.perf_counter()
        estimate = monte_carlo_probabilities(instance, "legacy", 0, LEGACY_PANELS, workers, spec.max_attempts)
        seconds = soft_seconds[workers] = time.perf_counter() - start
        print(
            f"soft weights from {LEGACY_PANELS} LEGACY panels, {workers} worker(s): {seconds:.1f} s "
            f"(max MC std error {estimate.std_errors.max():.4f})"
        )
    if reference and "seconds" in reference and reference["ok"] == REFERENCE_LEGACY_PANELS:
        reference_s = float(np.mean(reference["seconds"])) * LEGACY_PANELS
        print(
            f"  reference: {reference_s:.0f} s, extrapolated from {REFERENCE_LEGACY_PANELS} calls (capped at "
            f"{REFERENCE_CAP_S['legacy']} s); ratio reference/ours (1 worker) {reference_s / soft_seconds[1]:.0f}x"
        )
    else:
        print("  reference: no figure (its LEGACY returned no panel within the cap, see above)")

    start = time.perf_counter()
    distribution = leximin_distribution(
        instance,
        solver=spec.solver,
        seed=spec.seed,
        tolerance=spec.leximin_tolerance,
        initial_committees=spec.leximin_initial_committees,
    )
    seconds = time.perf_counter() - start
    p = distribution.marginals
    print(
        f"LEXIMIN (ours, CBC pricing + CLP master): {seconds:.1f} s, {distribution.rounds} rounds, {distribution.columns} "
        f"committees generated, support {len(distribution.weights)}, min p {p.min():.4f}, max p {p.max():.4f}, "
        f"#p=1 {(p > 1 - 1e-6).sum()}",
        flush=True,
    )
    reference = run_reference(name, "maximin", 1)
    if reference is None:
        print("reference maximin: reference environment .venv-ref unavailable")
    elif "seconds" in reference and reference["ok"]:
        print(
            f"reference maximin (CBC): {reference['seconds'][0]:.1f} s; ratio ours/reference "
            f"{seconds / reference['seconds'][0]:.2f}"
        )
    else:
        print(f"reference maximin FAILED: {reference}")


def main() -> None:
    print(f"load average at start: {os.getloadavg()}")
    names = os.environ.get("BENCH_PANELS", "S,M,L").split(",")
    for name in names:
        bench_instance(name.strip())
        print(f"load average: {os.getloadavg()}", flush=True)
