"""Exact LEXIMIN panel distributions by column generation (Flanigan et al., Nature 2021), on CLP and CBC.

LEXIMIN maximises the smallest selection probability, then the second smallest, and so on. Each
outer round solves, over the committees found so far, the dual LP

    min  ŷ − Σ_{i fixed} p_i·y_i
    s.t. Σ_{i∈P} y_i ≤ ŷ            for every known committee P
         Σ_{i unfixed} y_i = 1,      y ≥ 0,

whose value z is the largest probability every unfixed person can get at once. The pricing ILP
(max Σ y_i·x_i over quota-feasible committees) adds any committee that violates a dual row. Once
none does, every person with a positive dual has probability exactly z in *every* optimal
distribution (complementary slackness), so they are fixed at z; people whose probability must
also be z but whose dual happens to be 0 at this vertex are fixed in a later round at the same
level. A final primal LP finds the distribution over committees meeting every fixed probability;
the returned probabilities are that distribution's marginals.

Speed (tests/bench/bench_panels.py): the master LP is re-solved by CLP (python-mip), which is
about twice as fast per re-solve here as HiGHS's simplex; fixing from simplex duals instead of an
interior-point solve per round costs more rounds but less time. The duals of a vertex are zero for
most people, so the pricing ILP would pick those seats arbitrarily and column generation would
zig-zag; a small nudge toward the people the current distribution serves least (`NUDGE`) picks,
among near-optimal committees, one that helps the next round too (about 20% fewer columns).

Accuracy: CLP's warm re-solves of this degenerate LP sometimes stop short of optimal (measured on
the bench's S pool: a few per cent of re-solves, committee weights off by up to ~6e-6, the value by
~1e-5, once a weight of -0.04; before this was checked, seeding with 1000 instead of 200 LEGACY
panels moved a probability by 4.7e-3). So nobody is fixed until a primal-dual `certificate` of
the round's LP solution passes: weights non-negative, every fixed person served at its level, and
the least-served unfixed person's probability (the level fixed) equal to the dual value, all
within `CERTIFICATE_SLACK`·`tolerance` (CLP's usual accuracy here is 1-3e-6). A solution that
fails is replaced by a cold HiGHS solve of the same LP (~1 s on S, so not the default).

Tolerances: a committee enters when its weight beats ŷ by more than `tolerance`; a person is
fixed when y_i exceeds `FIX_FRACTION / n_unfixed` (a smaller dual is treated as zero); fixed
levels sit `FIX_MARGIN` below the certified level so the next LP stays feasible despite solver
round-off, and if it is not, all fixed levels drop by the least amount that restores
feasibility. Each level is exact to about `tolerance`; the rounding slack (at most about
n·tolerance in total) ends up on the people fixed last, the most-selected ones. Seeding with 200
or 1000 LEGACY panels changes no probability by more than 1.5e-5 on the S pool.

Determinism: people are indexed in sorted-id order, committees are kept in a list in discovery
order, CBC and CLP run single-threaded; no set or dict order influences the result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import highspy
import mip
import numpy as np

from demalign.errors import DemalignError, InfeasibleQuotasError
from demalign.panels.committee import CommitteeOracle, quiet_highs, stdout_silenced
from demalign.panels.legacy import legacy_panels, panel_generator
from demalign.panels.spec import Instance

log = logging.getLogger(__name__)

FIX_FRACTION = 1e-3  # a person is fixed when its dual exceeds this share of the average dual
FIX_MARGIN = 1e-7  # fixed levels sit this far below the certified level, absorbing solver round-off
SUPPORT_FLOOR = 1e-9  # committees with less probability than this are dropped from the distribution
NUDGE = 1e-3  # pricing weight toward least-served people, as a share of the largest dual
CERTIFICATE_SLACK = 5.0  # LP solutions may miss optimality by this many tolerances (CLP's usual: 1-3e-6)


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


class _MasterLP:
    """The dual LP above over the known committees, kept in one CLP model that re-solves warm as
    committee rows are added and people are fixed. CLP's warm re-solves of this degenerate LP are
    fast but sometimes stop short of optimal (committee weights off by ~5e-6, the value by ~1e-5,
    once a weight of -0.04: measured on the bench's S pool), so `_fixing_round` checks a
    primal-dual certificate before fixing anyone and falls back to `solve_accurately` (a cold HiGHS
    solve) when it fails."""

    def __init__(self, n: int) -> None:
        model = mip.Model(sense=mip.MINIMIZE, solver_name=mip.CBC)
        model.verbose = 0
        model.threads = 1
        self.n = n
        self.model = model
        self.y = [model.add_var(lb=0.0) for _ in range(n)]
        self.y_hat = model.add_var(lb=-mip.INF)
        self.levels = np.full(n, np.nan)  # fixed probabilities; NaN = unfixed
        self.committees: list[np.ndarray] = []  # one dual row each, in discovery order
        self._known: set[bytes] = set()  # membership test only; order comes from `committees`
        self.rows: list[mip.Constr] = []
        self._normalisation: mip.Constr | None = None
        self._solved = False
        self._set_objective()

    def _set_objective(self) -> None:
        fixed = np.flatnonzero(~np.isnan(self.levels))
        unfixed = np.flatnonzero(np.isnan(self.levels))
        if self._normalisation is not None:
            self.model.remove(self._normalisation)
        self._normalisation = self.model.add_constr(mip.xsum(self.y[i] for i in unfixed) == 1)
        self.model.objective = self.y_hat - mip.xsum(float(self.levels[i]) * self.y[i] for i in fixed)

    def add_committees(self, committees: list[np.ndarray]) -> int:
        """Add the committees not known yet as dual rows; returns how many were new."""
        added = 0
        for committee in committees:
            key = committee.astype(np.int32).tobytes()
            if key in self._known:
                continue
            self._known.add(key)
            self.committees.append(committee)
            self.rows.append(self.model.add_constr(mip.xsum(self.y[i] for i in committee) - self.y_hat <= 0))
            added += 1
        return added

    def fix(self, people: np.ndarray, levels: np.ndarray) -> None:
        self.levels[people] = levels
        self._set_objective()

    def solve(self) -> tuple[np.ndarray, float, float, np.ndarray]:
        """(y, ŷ, objective z, λ): the duals, the LP value and the committee weights of the primal.
        A warm re-solve that does not end optimal is redone by `solve_accurately`."""
        if self._solved:
            status = self.model.optimize(relax=True)
        else:  # CLP prints a summary of its first (cold) solve whatever python-mip's verbose says
            with stdout_silenced():
                status = self.model.optimize(relax=True)
            self._solved = True
        if status != mip.OptimizationStatus.OPTIMAL:
            log.info("LEXIMIN: CLP's dual LP re-solve returned %s; solving it cold with HiGHS", status.name)
            return self.solve_accurately()
        y = np.array([v.x for v in self.y])
        weights = np.array([-row.pi for row in self.rows])
        return y, float(self.y_hat.x), float(self.model.objective_value), weights

    def solve_accurately(self) -> tuple[np.ndarray, float, float, np.ndarray]:
        """`solve()`'s result from a cold HiGHS solve of the same LP (slower, and exact to ~1e-9)."""
        n, m = self.n, len(self.committees)
        fixed = ~np.isnan(self.levels)
        highs = quiet_highs()
        lower = np.zeros(n + 1)
        lower[n] = -highspy.kHighsInf  # ŷ is free
        highs.addVars(n + 1, lower, np.full(n + 1, highspy.kHighsInf))
        cost = np.zeros(n + 1)
        cost[n] = 1.0
        cost[:n][fixed] = -self.levels[fixed]
        highs.changeColsCost(n + 1, np.arange(n + 1, dtype=np.int32), cost)
        unfixed = np.flatnonzero(~fixed).astype(np.int32)
        highs.addRow(1.0, 1.0, len(unfixed), unfixed, np.ones(len(unfixed)))
        sizes = np.array([len(c) + 1 for c in self.committees])  # members, then ŷ with coefficient -1
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        index = np.concatenate([np.append(c, n) for c in self.committees]).astype(np.int32)
        value = np.concatenate([np.append(np.ones(len(c)), -1.0) for c in self.committees])
        highs.addRows(m, np.full(m, -highspy.kHighsInf), np.zeros(m), len(index), starts, index, value)
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise _LPNotOptimal(highs.modelStatusToString(status))
        solution = highs.getSolution()
        columns = np.asarray(solution.col_value)
        weights = -np.asarray(solution.row_dual)[1:]
        return columns[:n], float(columns[n]), float(highs.getInfo().objective_function_value), weights


class _LPNotOptimal(RuntimeError):
    pass


def _closest_distribution(
    committees: list[np.ndarray], fixed: np.ndarray, n: int
) -> tuple[np.ndarray, float]:
    """Weights over `committees` giving each person at least its fixed probability (NaN: no
    requirement) less the smallest uniform shortfall ε, and ε (~0 when the fixing was consistent)."""
    m = len(committees)
    highs = quiet_highs()
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
        level = 0.0 if np.isnan(fixed[person]) else float(fixed[person])
        highs.addRow(level, highspy.kHighsInf, len(indices), indices, np.ones(len(indices)))
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"LEXIMIN distribution LP: {highs.modelStatusToString(highs.getModelStatus())}")
    solution = np.asarray(highs.getSolution().col_value)
    weights = np.clip(solution[:m], 0.0, None)
    weights[weights < SUPPORT_FLOOR] = 0.0
    return weights / weights.sum(), float(solution[m])


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
    lp = _MasterLP(n)
    if initial_committees:
        try:
            generators = [panel_generator(seed, index) for index in range(initial_committees)]
            lp.add_committees(list(legacy_panels(instance, generators, max_attempts=max_attempts)))
        except InfeasibleQuotasError:  # LEGACY can fail on tight feasible quotas; the ILP still works
            log.info("LEXIMIN: LEGACY seeding failed; starting from the ILP alone")
    if not lp.committees:
        lp.add_committees(oracle.best(np.ones(n)))

    fixed = np.full(n, np.nan)
    rounds = 0
    while np.isnan(fixed).any():
        rounds += 1
        try:
            level, newly_fixed = _fixing_round(lp, oracle, tolerance)
        except _LPNotOptimal as error:
            # The fixed levels are a hair too high for the committees known (round-off): lower them
            # all by the least amount that makes them jointly achievable again.
            shortfall = _closest_distribution(lp.committees, fixed, n)[1] + FIX_MARGIN
            log.info(
                "LEXIMIN round %d: dual LP %s; lowering the fixed levels by %.2g", rounds, error, shortfall
            )
            lowered = ~np.isnan(fixed)
            fixed[lowered] = np.maximum(fixed[lowered] - shortfall, 0.0)
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
            len(lp.committees),
        )

    weights = _closest_distribution(lp.committees, fixed, n)[0]
    support = np.flatnonzero(weights)
    chosen = np.asarray([lp.committees[j] for j in support])
    marginals = np.zeros(n)
    np.add.at(marginals, chosen.ravel(), np.repeat(weights[support], chosen.shape[1]))
    return PanelDistribution(
        chosen,
        weights[support],
        np.minimum(marginals, 1.0),
        rounds,
        len(lp.committees),
        time.perf_counter() - start_time,
    )


def _fixing_round(
    lp: _MasterLP,
    oracle: CommitteeOracle,
    tolerance: float,
) -> tuple[float, np.ndarray]:
    """Column generation to optimality; returns the level z that the LP's own distribution gives
    every unfixed person (once a primal-dual certificate shows z is optimal) and the people to fix at it."""
    unfixed = np.isnan(lp.levels)
    while True:
        y, y_hat, value, weights = lp.solve()
        served = _served(lp.committees, weights, lp.n)
        if _price(oracle, lp, _nudged(y, served, unfixed), y, y_hat, tolerance):
            continue
        if _price(oracle, lp, y, y, y_hat, tolerance):  # the nudge can miss the last violators
            continue
        level, error = certificate(served, weights, value, lp.levels)
        if error > CERTIFICATE_SLACK * tolerance:
            log.info("LEXIMIN: CLP's dual LP solution is off by %.2g; solving it cold with HiGHS", error)
            y, y_hat, value, weights = lp.solve_accurately()
            served = _served(lp.committees, weights, lp.n)
            level, error = certificate(served, weights, value, lp.levels)
            if error > CERTIFICATE_SLACK * tolerance:
                raise DemalignError(
                    f"LEXIMIN: the dual LP's solution misses optimality by {error:.2g} even in a cold "
                    f"HiGHS solve; raise panel.leximin_tolerance (now {tolerance:g}) above "
                    f"{error / CERTIFICATE_SLACK:.2g}"
                )
            if _price(oracle, lp, y, y, y_hat, tolerance):  # the exact duals may expose a violator
                continue
        newly_fixed = np.flatnonzero(unfixed & (y > FIX_FRACTION / unfixed.sum()))
        if newly_fixed.size == 0:  # cannot happen with Σ_unfixed y = 1, but never loop forever
            newly_fixed = np.flatnonzero(unfixed & (y >= y[unfixed].max()))
        return level, newly_fixed


def _served(committees: list[np.ndarray], weights: np.ndarray, n: int) -> np.ndarray:
    """Each person's selection probability under the committee weights, negative weights (solver
    round-off) dropped and the rest rescaled to sum to 1. Only the LP's support, at most n + 1
    committees, is visited."""
    support = np.flatnonzero(weights > 0)
    total = float(weights[support].sum())
    served = np.zeros(n)
    for j in support:
        served[committees[j]] += weights[j] / total
    return served


def certificate(
    served: np.ndarray, weights: np.ndarray, value: float, levels: np.ndarray
) -> tuple[float, float]:
    """(level, error) of a solution of the round's LP. `level` is the least probability the
    committee weights give an unfixed person: what fixing at it promises is achievable. `error`
    is the largest violation of optimality: a negative weight, a fixed person served below its
    level, or a gap between `level` and the dual value `value` (an exact optimum has error 0)."""
    unfixed = np.isnan(levels)
    level = float(served[unfixed].min())
    shortfall = float(np.max(levels[~unfixed] - served[~unfixed], initial=0.0))
    return level, max(-float(weights.min(initial=0.0)), abs(value - level), shortfall)


def _nudged(y: np.ndarray, served: np.ndarray, unfixed: np.ndarray) -> np.ndarray:
    """Pricing weights: the duals plus a nudge (at most NUDGE·max y) toward unfixed people in
    proportion to how little the current distribution selects them."""
    shortfall = np.where(unfixed, 1.0 - np.minimum(served, 1.0), 0.0)
    scale = NUDGE * max(float(y.max()), 0.0) / max(float(shortfall.max()), 1e-12)
    return np.maximum(y, 0.0) + scale * shortfall


def _price(
    oracle: CommitteeOracle,
    lp: _MasterLP,
    weights: np.ndarray,
    y: np.ndarray,
    y_hat: float,
    tolerance: float,
) -> bool:
    """Price at `weights`; add the committees found whose dual weight beats ŷ. True if any was added."""
    candidates = oracle.best(np.maximum(weights, 0.0))
    violating = [c for c in candidates if y[c].sum() > y_hat + tolerance]
    return lp.add_committees(violating) > 0
