"""Panels benchmark: ours vs the Sortition Foundation's `sortition-algorithms`, measured in the same run.

Instances (synthetic PRISM-shaped pools, 7 attributes): S 338/100/0.10 US-only with census targets
for gender/age/ethnicity (seed 2: the first generator seed whose S pool is feasible), M 700/150/0.05
and L 1500/300/0.05 with PRISM marginals; `panel=all_locales` as shipped (k=50, tolerance 0.10) on the
bundled sample (ALL-sample, 200 people) and on a full-size synthetic PRISM (ALL-full, 1500 people).
LEXIMIN is ours (certified exact); the reference figure beside it is its maximin on CBC (its LEXIMIN
needs Gurobi). Each reference call runs in a subprocess with a time cap.

    python -m tests.bench panels                 # S, M, L, ALL-sample, ALL-full (a few minutes)
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

INSTANCES = {  # name: (pool size, panel size, tolerance, generator seed, locale); pool size 0 = bundled sample
    "S": (338, 100, 0.10, 2, "us"),
    "M": (700, 150, 0.05, 2, None),
    "L": (1500, 300, 0.05, 3, None),
    "ALL-sample": (0, 50, 0.10, 0, None),
    "ALL-full": (1500, 50, 0.10, 0, None),
}
REFERENCE_CAP_S = {"legacy": 60, "maximin": 300}  # wall-clock cap per reference call (seconds)
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
    if name.startswith("ALL"):
        return {**prism, "seed": 0}  # the spec as shipped
    if name == "S":
        us = load("us")
        census = [a for a in us["attributes"] if a["name"] in ("gender", "age", "ethnicity")]
        rest = [a for a in prism["attributes"] if a["name"] not in ("gender", "age", "ethnicity")]
        spec = {**us, "attributes": census + rest}
    else:
        spec = prism
    return {**spec, "panel_size": k, "tolerance": tolerance, "seed": 0}


def pool_for(name: str):
    from demalign.prism.loading import load_prism, sample_root, survey_frame
    from demalign.prism.synthetic import generate_survey

    n, _, _, seed, locale = INSTANCES[name]
    if n == 0:
        return load_prism(sample_root()).survey
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


# Only when the reference runs on demalign's own interpreter (python-mip 2.x): its CBC backend passes
# name=None, which mip 2 rejects; give those calls the empty name mip 1 used. The algorithm is untouched.
MIP2_NAME_SHIM = r"""
import mip
_add_var, _add_constr = mip.Model.add_var, mip.Model.add_constr
def _add_var_named(self, *args, **kwargs):
    if kwargs.get("name", "") is None:
        kwargs["name"] = ""
    return _add_var(self, *args, **kwargs)
def _add_constr_named(self, *args, **kwargs):
    if kwargs.get("name", "") is None:
        kwargs["name"] = ""
    return _add_constr(self, *args, **kwargs)
mip.Model.add_var, mip.Model.add_constr = _add_var_named, _add_constr_named
"""

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


_INTERPRETER: list = []


def reference_interpreter() -> tuple[str, str] | None:
    """(python, script prefix) for the reference's CBC backend: `.venv-ref` (mip 1.x) if it is built,
    else demalign's own interpreter when it has the reference installed (mip 2.x, with the name shim),
    else `.venv-ref` built now (needs the network); None if none works. Decided once per run."""
    if not _INTERPRETER:
        import sys

        venv = ROOT / ".venv-ref" / "bin" / "python"
        check = "import sortition_algorithms, mip"
        if venv.exists() and subprocess.run([venv, "-c", check], capture_output=True).returncode == 0:
            choice = (str(venv), "")
            print("reference: sortition-algorithms in .venv-ref (python-mip 1.x, CBC)")
        elif subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0:
            choice = (sys.executable, MIP2_NAME_SHIM)
            print("reference: sortition-algorithms in demalign's venv (python-mip 2.x CBC, name shim)")
        else:
            python = reference_python()
            choice = (str(python), "") if python is not None else None
        _INTERPRETER.append(choice)
    return _INTERPRETER[0]


def run_reference(name: str, algorithm: str, count: int) -> dict | None:
    """Run the reference (CBC backend) in a subprocess; None if no interpreter has it, {'timeout': cap}
    if it ran past its cap, {'error': ...} if it failed."""
    interpreter = reference_interpreter()
    if interpreter is None:
        return None
    python, prefix = interpreter
    features_csv, people_csv = reference_tables(name)
    payload = "\x00".join([features_csv, people_csv, str(INSTANCES[name][1]), algorithm, str(count)])
    cap = REFERENCE_CAP_S[algorithm]
    try:
        done = subprocess.run(
            [python, "-c", prefix + REFERENCE_SCRIPT],
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

    from demalign.panels.api import prepare_instance

    _, k, tolerance, _, _ = INSTANCES[name]
    spec, instance = prepare_instance(pool_for(name), instance_spec(name))
    print(f"\n--- {name}: pool {instance.size}, panel {k}, tolerance {tolerance} ---", flush=True)
    if not name.startswith("ALL"):
        bench_legacy(name, spec, instance)
    bench_leximin(name, spec, instance)


def bench_legacy(name: str, spec, instance) -> None:
    import numpy as np

    from demalign.panels.legacy import legacy_panels, panel_generator
    from demalign.panels.soft import monte_carlo_probabilities

    generators = [panel_generator(0, i) for i in range(200)]
    start = time.perf_counter()
    panels = legacy_panels(instance, generators)
    ours_ms = (time.perf_counter() - start) / len(panels) * 1e3
    assert all(instance.meets_quotas(p) for p in panels)
    reference = run_reference(name, "legacy", REFERENCE_LEGACY_PANELS)
    print(f"LEGACY per panel: ours {ours_ms:.2f} ms (batch of 200, all quotas met)", end="")
    if reference is None:
        print("; reference: no interpreter with sortition-algorithms")
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


def bench_leximin(name: str, spec, instance) -> None:
    from demalign.panels.leximin import leximin_distribution

    start = time.perf_counter()
    distribution = leximin_distribution(
        instance,
        solver=spec.solver,
        seed=spec.seed,
        tolerance=spec.leximin_tolerance,
        initial_committees=spec.leximin_initial_committees,
    )
    seconds = time.perf_counter() - start
    p, weights = distribution.marginals, distribution.weights
    verdict = "certified exact" if distribution.certified else "NOT certified"
    print(
        f"LEXIMIN (ours): {seconds:.1f} s, {verdict} via {distribution.path} "
        f"(|marginals - LP bound| {distribution.marginal_error:.1e}, peeling residual {distribution.residual:.1e}, "
        f"{distribution.cuts} cuts, {distribution.rounds} LP solves), support {len(weights)} panels "
        f"({(weights > 1e-9).sum()} above 1e-9) of {distribution.columns} found, min p {p.min():.4f}, "
        f"max p {p.max():.4f}, #p=1 {(p > 1 - 1e-6).sum()}",
        flush=True,
    )
    reference = run_reference(name, "maximin", 1)
    if reference is None:
        print("reference maximin: no interpreter with sortition-algorithms")
    elif "seconds" in reference and reference["ok"]:
        print(
            f"reference maximin (CBC), same run: {reference['seconds'][0]:.1f} s; ratio ours LEXIMIN / "
            f"reference maximin {seconds / reference['seconds'][0]:.2f}"
        )
    else:
        print(f"reference maximin FAILED: {reference}")


def main() -> None:
    print(f"load average at start: {os.getloadavg()}")
    names = os.environ.get("BENCH_PANELS", ",".join(INSTANCES)).split(",")
    for name in names:
        bench_instance(name.strip())
        print(f"load average: {os.getloadavg()}", flush=True)
