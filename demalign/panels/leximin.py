"""Exact LEXIMIN panel distributions by column generation (Flanigan et al., Nature 2021), on HiGHS and CBC.

LEXIMIN maximises the smallest selection probability, then the second smallest, and so on. Each
outer round solves, over the committees found so far, the dual LP

    min  ŷ − Σ_{i fixed} p_i·y_i
    s.t. Σ_{i∈P} y_i ≤ ŷ            for every known committee P
         Σ_{i unfixed} y_i = 1,      y ≥ 0,

whose value z is the largest probability every unfixed person can get at once. The pricing ILP
(max Σ y_i·x_i over quota-feasible committees) adds any committee that violates a dual row.
Once none does, the LP is re-solved by interior point without crossover: those duals lie in the
relative interior of the optimal face, so *every* person whose probability must equal z has
y_i > 0 and is fixed at z in one round. A final primal LP finds the distribution over committees
meeting every fixed probability; the returned probabilities are that distribution's marginals.

Tolerances: a committee enters when its weight beats ŷ by more than `tolerance`; a person is
fixed when y_i exceeds `FIX_FRACTION / n_unfixed` (a person left unfixed by a too-small dual
is simply fixed in a later round at the same level); fixed levels are lowered by `FIX_MARGIN` so
the next LP stays feasible despite solver round-off. Probabilities are exact to about 1e-6.

Determinism: people are indexed in sorted-id order, committees are kept in a list in discovery
order, CBC runs single-threaded and HiGHS's LP solvers are serial; no set or dict order influences
the result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import highspy
import numpy as np

from demalign.errors import InfeasibleQuotasError
from demalign.panels.committee import CommitteeOracle
from demalign.panels.legacy import legacy_panels, panel_generator
from demalign.panels.spec import Instance

log = logging.getLogger(__name__)

FIX_FRACTION = 1e-3  # a person is fixed when its interior dual exceeds this share of the average dual
FIX_MARGIN = 1e-7  # fixed levels sit this far below the LP value, absorbing solver round-off
SUPPORT_FLOOR = 1e-9  # committees with less probability than this are dropped from the distribution


@dataclass(frozen=True)
class PanelDistribution:
    """A lottery over committees: `committees[j]` (sorted person indices) has probability `weights[j]`;
    `marginals[i]` is person i's selection probability under it."""

    committees: np.ndarray  # (m, k) int
    weights: np.ndarray  # (m,)
    marginals: np.ndarray  # (n,)
    rounds: int
    columns: int
    seconds: float

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return self.committees[rng.choice(len(self.weights), p=self.weights)]


def _new_highs() -> highspy.Highs:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


class _DualLP:
    """The dual LP over the known committees, kept twice: a simplex copy that warm-starts as rows
    are added, and an interior-point copy for the fixing step."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.simplex = _new_highs()
        self.interior = _new_highs()
        self.interior.setOptionValue("solver", "ipm")
        self.interior.setOptionValue("run_crossover", "off")
        self.interior.setOptionValue("presolve", "off")  # presolve would fix dominated columns at a vertex
        for highs in (self.simplex, self.interior):
            highs.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
            highs.addVar(-highspy.kHighsInf, highspy.kHighsInf)  # ŷ
            highs.changeColCost(n, 1.0)
            highs.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))  # Σ_unfixed y = 1

    def add_committees(self, committees: list[np.ndarray]) -> None:
        k = len(committees[0])
        starts = np.arange(len(committees), dtype=np.int32) * (k + 1)
        indices = np.concatenate([np.append(c, self.n) for c in committees]).astype(np.int32)
        values = np.tile(np.append(np.ones(k), -1.0), len(committees))
        lower = np.full(len(committees), -highspy.kHighsInf)
        upper = np.zeros(len(committees))
        for highs in (self.simplex, self.interior):
            highs.addRows(len(committees), lower, upper, len(indices), starts, indices, values)

    def fix(self, people: np.ndarray, levels: np.ndarray) -> None:
        for highs in (self.simplex, self.interior):
            for person, level in zip(people, levels, strict=True):
                highs.changeCoeff(0, int(person), 0.0)
                highs.changeColCost(int(person), -float(level))

    def solve(self, interior: bool) -> tuple[np.ndarray, float, float]:
        """(y, ŷ, objective) of the simplex or interior-point copy."""
        highs = self.interior if interior else self.simplex
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise _LPNotOptimal(highs.modelStatusToString(status))
        values = np.asarray(highs.getSolution().col_value)
        return values[: self.n], float(values[self.n]), float(highs.getInfo().objective_function_value)


class _LPNotOptimal(RuntimeError):
    pass


def _final_distribution(committees: list[np.ndarray], fixed: np.ndarray, n: int) -> np.ndarray:
    """Weights over `committees` giving each person at least its fixed probability (minimising the
    largest shortfall ε, which is ~0 when the fixing was consistent)."""
    m = len(committees)
    highs = _new_highs()
    highs.addVars(m, np.zeros(m), np.full(m, highspy.kHighsInf))
    highs.addVar(0.0, highspy.kHighsInf)  # ε
    highs.changeColCost(m, 1.0)
    highs.addRow(1.0, 1.0, m, np.arange(m, dtype=np.int32), np.ones(m))
    # Person rows: Σ_{P∋i} λ_P + ε ≥ p_i, built column-wise from the committee lists.
    order = np.concatenate(committees)
    owner = np.repeat(np.arange(m), [len(c) for c in committees])
    by_person = np.argsort(order, kind="stable")
    counts = np.bincount(order, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for person in range(n):
        columns = owner[by_person[starts[person] : starts[person] + counts[person]]]
        indices = np.append(columns, m).astype(np.int32)
        highs.addRow(float(fixed[person]), highspy.kHighsInf, len(indices), indices, np.ones(len(indices)))
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"LEXIMIN final LP: {highs.modelStatusToString(highs.getModelStatus())}")
    weights = np.clip(np.asarray(highs.getSolution().col_value)[:m], 0.0, None)
    weights[weights < SUPPORT_FLOOR] = 0.0
    return weights / weights.sum()


def leximin_distribution(
    instance: Instance,
    solver: str = "cbc",
    seed: int = 0,
    tolerance: float = 1e-6,
    initial_committees: int = 200,
    max_attempts: int = 100,
) -> PanelDistribution:
    """The LEXIMIN distribution over quota-feasible committees of `instance` (feasibility checked
    by the caller). `initial_committees` LEGACY panels seed the column set (they cost ~1 ms each)."""
    start_time = time.perf_counter()
    n = instance.size
    oracle = CommitteeOracle(instance, solver=solver, seed=seed, gap=tolerance / 2)
    committees: list[np.ndarray] = []
    known: set[bytes] = set()  # membership test only; order comes from the `committees` list

    def add(candidates: list[np.ndarray]) -> int:
        fresh: list[np.ndarray] = []
        for committee in candidates:
            key = committee.astype(np.int32).tobytes()
            if key not in known:
                known.add(key)
                fresh.append(committee)
        if fresh:
            committees.extend(fresh)
            lp.add_committees(fresh)
        return len(fresh)

    lp = _DualLP(n)
    if initial_committees:
        try:
            generators = [panel_generator(seed, index) for index in range(initial_committees)]
            add(list(legacy_panels(instance, generators, max_attempts=max_attempts)))
        except InfeasibleQuotasError:  # LEGACY can fail on tight feasible quotas; the ILP still works
            log.info("LEXIMIN: LEGACY seeding failed; starting from the ILP alone")
    if not committees:
        add(oracle.best(np.ones(n)))

    fixed = np.full(n, np.nan)
    rounds = 0
    while np.isnan(fixed).any():
        rounds += 1
        try:
            level, newly_fixed = _fixing_round(lp, oracle, add, tolerance, np.isnan(fixed))
        except _LPNotOptimal as error:
            log.info("LEXIMIN round %d: dual LP %s; lowering the fixed levels", rounds, error)
            # The fixed levels are a hair too high for the committees known (round-off): lower them.
            lowered = ~np.isnan(fixed)
            fixed[lowered] -= 10 * FIX_MARGIN
            lp.fix(np.flatnonzero(lowered), fixed[lowered])
            continue
        fixed[newly_fixed] = max(level - FIX_MARGIN, 0.0)
        lp.fix(newly_fixed, fixed[newly_fixed])
        log.info(
            "LEXIMIN round %d: %d people fixed at %.6f (%d unfixed, %d committees)",
            rounds,
            len(newly_fixed),
            level,
            int(np.isnan(fixed).sum()),
            len(committees),
        )

    weights = _final_distribution(committees, fixed, n)
    support = np.flatnonzero(weights)
    chosen = np.asarray([committees[j] for j in support])
    marginals = np.zeros(n)
    np.add.at(marginals, chosen.ravel(), np.repeat(weights[support], chosen.shape[1]))
    return PanelDistribution(
        chosen,
        weights[support],
        np.minimum(marginals, 1.0),
        rounds,
        len(committees),
        time.perf_counter() - start_time,
    )


def _fixing_round(
    lp: _DualLP, oracle: CommitteeOracle, add, tolerance: float, unfixed: np.ndarray
) -> tuple[float, np.ndarray]:
    """Column generation to optimality, then the interior-point solve; returns the level z and the
    people to fix at it."""
    while True:
        y, y_hat, _ = lp.solve(interior=False)
        if _price(oracle, add, y, y_hat, tolerance):
            continue
        y, y_hat, value = lp.solve(interior=True)
        if _price(oracle, add, y, y_hat, tolerance):
            continue
        threshold = FIX_FRACTION / unfixed.sum()
        newly_fixed = np.flatnonzero(unfixed & (y > threshold))
        if newly_fixed.size == 0:  # cannot happen with Σ_unfixed y = 1, but never loop forever
            newly_fixed = np.flatnonzero(unfixed & (y >= y[unfixed].max()))
        return value, newly_fixed


def _price(oracle: CommitteeOracle, add, y: np.ndarray, y_hat: float, tolerance: float) -> bool:
    """Add the committees whose dual weight beats ŷ; True if any was added."""
    candidates = oracle.best(np.maximum(y, 0.0))
    violating = [c for c in candidates if y[c].sum() > y_hat + tolerance]
    return bool(violating) and add(violating) > 0
