"""Exact LEXIMIN panel distributions: the LEXIMIN of the quota LP relaxation, decomposed into panels, certified.

LEXIMIN maximises the smallest selection probability, then the second smallest, and so on, over Q, the
set of selection-probability vectors that some lottery over quota-feasible panels achieves (the convex
hull of the panels' 0/1 vectors). Q lies inside the quota polytope

    P = {p ∈ [0,1]^n : Σp = k, lo_c ≤ Σ_{i∈c} p_i ≤ hi_c for every category c},

so the LEXIMIN point p̂ of P (or of P cut down by valid inequalities, see below) is at least the LEXIMIN
of Q in leximin order. If p̂ is *also* the marginal vector of a lottery over real panels, then p̂ ∈ Q and
it is the LEXIMIN of Q: the lottery is certified exact. The steps:

1. **Relaxation** (`_Relaxation`): one HiGHS LP, max z s.t. p ∈ P, p_i ≥ z for every unfixed person,
   re-solved hot. After each solve every unfixed person whose row dual exceeds `tolerance` is fixed at z
   (complementary slackness: they sit at z in every optimum); fixing only changes bounds, so HiGHS keeps
   its factorisation. 30–50 solves, under a second on a pool of 1500.
2. **Peeling** (`_peel`): keep the residual r = p̂ − Σ w_j·panel_j of mass μ = 1 − Σw. Its scaled point
   q = r/μ lies in P; any quota-feasible panel v on the minimal face of P containing q (people at 0 kept
   out, at 1 kept in, quota rows at a bound held there) allows a step q → (q − λv)/(1 − λ) that stays in
   P, with the largest λ given by a closed-form ratio test. v is, in this order: a panel found already
   that lies on the face, the previous step's panel moved onto the face by one-for-one swaps
   (`_repair`, numpy only), or CBC's first feasible solution on the face. Each step empties at least
   one coordinate or tightens a row, so μ shrinks geometrically; peeling stops below `PEEL_STOP`.
3. **Final LP** (`_ShortfallLP`): if the peeled lottery already matches p̂ within `tolerance` (the
   usual case: ~1e-10) it is used as is; otherwise min ε s.t. a lottery over the panels found has every
   marginal within ε of p̂_i. Either way `certify` checks the returned lottery's marginals against p̂
   (and raises if they disagree).
4. **Fallback** (the LP over the peeled panels misses p̂ by more than `tolerance`: on tight quotas the
   greedy peeling can step out of Q, or p̂ ∉ Q at all): column generation on the same LP (joined by
   `initial_committees` multiplicative-weights panels if it needs more than `SEED_AFTER` panels), priced
   by the LP relaxation of the committee ILP first and by the ILP only when that is fractional. It also
   polishes: it aims at ε ≤ `POLISH_TARGET` and settles for `tolerance` only after `POLISH_PANELS`
   priced panels. If it ends with ε > `tolerance`, its duals (y, ŷ) give a valid inequality
   y·p ≤ max_panel y(panel) for Q that p̂ violates by about ε; that cut is added to step 1's LP and the
   loop repeats. Each pass is time-capped (`FALLBACK_SECONDS` in total); if the cap or `MAX_CUTS` is
   reached the lottery of the last LP is returned, *not* certified, and the log says how far its
   marginals are from the bound (the precision reached).

Determinism: people are indexed in sorted-id order, panels are kept in discovery order, HiGHS simplex
and single-threaded CBC (seeded) are deterministic; no set or dict order influences the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import mip
import numpy as np

from demalign.errors import DemalignError
from demalign.panels.committee import CommitteeOracle, quiet_highs
from demalign.panels.spec import Instance

log = logging.getLogger(__name__)

SUPPORT_FLOOR = 1e-9  # committees below this probability are dropped when the rest still give exact marginals
TINY_WEIGHT = 1e-13  # weights below this are round-off and always dropped
PEEL_STOP = 1e-10  # peeling stops once the residual mass is below this; the final LP absorbs the rest
FACE_TOL = 1e-10  # a coordinate / quota count this close to a bound (on the scaled residual) is on it
MIN_REUSED_STEP = 1e-9  # a known or repaired panel is used when its step is at least this (else CBC is asked)
LP_TOL = 1e-10  # HiGHS primal and dual feasibility tolerance for the LEXIMIN LPs
POLISH_TARGET = 1e-9  # column generation aims this close to p̂ even when a looser tolerance is met ...
POLISH_PANELS = 50  # ... pricing at most this many panels in all before settling for the tolerance
SEED_AFTER = 25  # multiplicative-weights seeds join column generation after this many priced panels
MAX_CUTS = 50  # fallback: cutting planes added before giving up certification
FALLBACK_SECONDS = 300.0  # fallback: wall-clock cap on column generation, all passes together


@dataclass(frozen=True)
class PanelDistribution:
    """A lottery over committees: `committees[j]` (sorted person indices) has probability `weights[j]`;
    `marginals[i]` is person i's selection probability under it. `bound` is the LEXIMIN of the quota
    LP (with any cuts): when `certified`, `marginals` equal it within `marginal_error` ≤ tolerance, which
    proves they are the exact LEXIMIN."""

    committees: np.ndarray  # (m, k) int
    weights: np.ndarray  # (m,)
    marginals: np.ndarray  # (n,)
    rounds: int  # relaxation LP solves, all passes together
    columns: int  # panels found (peeling + column generation)
    seconds: float
    certified: bool = False
    bound: np.ndarray = field(default_factory=lambda: np.zeros(0))
    marginal_error: float = float("nan")  # max |marginals − bound|
    residual: float = float("nan")  # peeling's residual mass when it stopped (last pass)
    cuts: int = 0  # cutting planes the fallback added
    path: str = ""  # "peeling" | "column generation" | "uncertified (...)"

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return self.committees[rng.choice(len(self.weights), p=self.weights)]


class CertificateError(DemalignError):
    """A lottery claimed exact whose marginals do not match the LEXIMIN bound."""


def certify(marginals: np.ndarray, bound: np.ndarray, tolerance: float) -> float:
    """The largest |marginals − bound|; raises `CertificateError` if it exceeds `tolerance`. A lottery
    whose marginals equal the LEXIMIN of a polytope containing every achievable vector is the exact
    LEXIMIN, so this check is the whole proof of exactness."""
    error = float(np.max(np.abs(marginals - bound), initial=0.0))
    if not error <= tolerance:
        raise CertificateError(
            f"LEXIMIN certificate failed: the lottery's marginals differ from the LP bound by {error:.3g} "
            f"(tolerance {tolerance:g})"
        )
    return error


def _highs_lp() -> highspy.Highs:
    highs = quiet_highs()
    highs.setOptionValue("primal_feasibility_tolerance", LP_TOL)
    highs.setOptionValue("dual_feasibility_tolerance", LP_TOL)
    return highs


def _csr(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.array([len(r) for r in rows], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    index = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    return starts, index


class _Relaxation:
    """The LEXIMIN of P (plus cuts) by one HiGHS model: columns p_0..p_{n-1} and z; rows Σp = k, the quota
    rows, p_i − z ≥ 0 per person, then the cuts. Fixing person i at level ℓ frees its row and sets
    p_i ≥ ℓ: bounds only, so every re-solve is hot."""

    def __init__(self, instance: Instance) -> None:
        n = instance.size
        self.n = n
        self.members = [np.flatnonzero(row) for row in instance.membership()]
        highs = _highs_lp()
        highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        highs.addVars(n + 1, np.zeros(n + 1), np.ones(n + 1))  # z ∈ [0, 1] is implied by p ∈ [0, 1]
        highs.changeColCost(n, 1.0)
        k = float(instance.quotas.panel_size)
        highs.addRow(k, k, n, np.arange(n, dtype=np.int32), np.ones(n))
        starts, index = _csr(self.members)
        highs.addRows(
            len(self.members),
            instance.lower.astype(float),
            instance.upper.astype(float),
            len(index),
            starts,
            index,
            np.ones(len(index)),
        )
        self.person_row0 = 1 + len(self.members)
        person_rows = [np.array([i, n]) for i in range(n)]
        starts, index = _csr(person_rows)
        values = np.tile([1.0, -1.0], n)
        highs.addRows(n, np.zeros(n), np.full(n, highspy.kHighsInf), len(index), starts, index, values)
        self.highs = highs
        self.cuts = 0

    def add_cut(self, y: np.ndarray, bound: float) -> None:
        """y·p ≤ bound (valid for every panel)."""
        support = np.flatnonzero(y).astype(np.int32)
        self.highs.addRow(-highspy.kHighsInf, bound, len(support), support, y[support])
        self.cuts += 1

    def leximin(self, tolerance: float) -> tuple[np.ndarray, int]:
        """(p̂, LP solves)."""
        n, highs = self.n, self.highs
        people = np.arange(n, dtype=np.int32)
        rows = (self.person_row0 + people).astype(np.int32)
        highs.changeColsBounds(n, people, np.zeros(n), np.ones(n))
        highs.changeRowsBounds(n, rows, np.zeros(n), np.full(n, highspy.kHighsInf))
        unfixed = np.ones(n, dtype=bool)
        solves = 0
        while True:
            highs.run()
            solves += 1
            status = highs.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise DemalignError(f"LEXIMIN relaxation LP: {highs.modelStatusToString(status)}")
            solution = highs.getSolution()
            p = np.asarray(solution.col_value)[:n]
            if not unfixed.any():
                return np.clip(p, 0.0, 1.0), solves
            z = float(solution.col_value[n])
            duals = np.abs(np.asarray(solution.row_dual)[self.person_row0 : self.person_row0 + n])
            chosen = np.flatnonzero(unfixed & (duals > tolerance))
            if chosen.size == 0:  # Σ duals = 1 over the unfixed, so only round-off gets here
                chosen = np.flatnonzero(unfixed & (duals >= duals[unfixed].max()))
            unfixed[chosen] = False
            chosen = chosen.astype(np.int32)
            m = len(chosen)
            level = min(
                max(z - 1e-12, 0.0), 1.0
            )  # a hair below z: round-off never makes the next LP infeasible
            highs.changeColsBounds(m, chosen, np.full(m, level), np.ones(m))
            free = (self.person_row0 + chosen).astype(np.int32)
            highs.changeRowsBounds(m, free, np.full(m, -highspy.kHighsInf), np.full(m, highspy.kHighsInf))


class _FaceOracle:
    """Any quota-feasible panel on a face of P: CBC stopping at its first feasible solution (no cuts, no
    preprocessing), the face set by variable bounds and by moving quota rows' right-hand sides."""

    def __init__(self, instance: Instance, seed: int) -> None:
        model = mip.Model(sense=mip.MAXIMIZE, solver_name=mip.CBC)
        model.verbose = 0
        model.threads = 1
        model.seed = seed
        model.cuts = 0
        model.preprocess = 0
        n = instance.size
        self.x = [model.add_var(var_type=mip.BINARY) for _ in range(n)]
        model += mip.xsum(self.x) == instance.quotas.panel_size
        self.lower, self.upper = instance.lower, instance.upper
        self.low_rows, self.high_rows = [], []
        for members, low, high in zip(
            (np.flatnonzero(r) for r in instance.membership()), self.lower, self.upper, strict=True
        ):
            total = mip.xsum(self.x[i] for i in members)
            self.low_rows.append(model.add_constr(total >= int(low)))
            self.high_rows.append(model.add_constr(total <= int(high)))
        self.model = model
        self._lb = np.zeros(n)
        self._ub = np.ones(n)
        self._rhs_low = self.lower.astype(float).copy()
        self._rhs_high = self.upper.astype(float).copy()

    def find(self, q: np.ndarray, out: np.ndarray, into: np.ndarray, at_low, at_high) -> np.ndarray | None:
        lb = into.astype(float)
        ub = (~out).astype(float)
        for i in np.flatnonzero((lb != self._lb) | (ub != self._ub)):
            self.x[i].lb, self.x[i].ub = lb[i], ub[i]
        self._lb, self._ub = lb, ub
        rhs_high = np.where(at_low, self.lower, self.upper).astype(float)  # at min: count ≤ min too
        rhs_low = np.where(at_high, self.upper, self.lower).astype(float)  # at max: count ≥ max too
        for c in np.flatnonzero(rhs_high != self._rhs_high):
            self.high_rows[c].rhs = rhs_high[c]
        for c in np.flatnonzero(rhs_low != self._rhs_low):
            self.low_rows[c].rhs = rhs_low[c]
        self._rhs_high, self._rhs_low = rhs_high, rhs_low
        chosen = np.flatnonzero(q > 0)
        self.model.objective = mip.LinExpr([self.x[i] for i in chosen], [float(q[i]) for i in chosen])
        status = self.model.optimize(max_solutions=1)
        if status not in (mip.OptimizationStatus.OPTIMAL, mip.OptimizationStatus.FEASIBLE):
            return None
        return np.flatnonzero(np.array([v.x for v in self.x]) > 0.5)


def _step(q: np.ndarray, counts_q: np.ndarray, panel_mask: np.ndarray, counts_v: np.ndarray, lower, upper):
    """The largest λ ≤ 1 with (q − λv)/(1 − λ) ∈ P (ratio test over coordinates and quota rows)."""
    step = 1.0
    if panel_mask.any():
        step = min(step, float(q[panel_mask].min()))
    if (~panel_mask).any():
        step = min(step, float((1.0 - q[~panel_mask]).min()))
    above = counts_v > lower
    if above.any():
        step = min(step, float(((counts_q - lower)[above] / (counts_v - lower)[above]).min()))
    below = counts_v < upper
    if below.any():
        step = min(step, float(((upper - counts_q)[below] / (upper - counts_v)[below]).min()))
    return step


@dataclass
class _Panels:
    """Panels found so far, in discovery order (the column set of every LP)."""

    n: int
    membership: np.ndarray  # (C, n) float
    committees: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    _known: set[bytes] = field(default_factory=set)

    def add(self, committee: np.ndarray) -> tuple[int, bool]:
        """(its index, whether it is new)."""
        key = committee.astype(np.int32).tobytes()
        if key in self._known:
            return next(j for j, c in enumerate(self.committees) if np.array_equal(c, committee)), False
        self._known.add(key)
        mask = np.zeros(self.n, dtype=bool)
        mask[committee] = True
        self.committees.append(committee)
        self.masks.append(mask)
        self.counts.append(self.membership[:, committee].sum(axis=1))
        return len(self.committees) - 1, True


def _peel(
    target: np.ndarray, panels: _Panels, oracle: _FaceOracle, lower, upper, max_steps: int
) -> tuple[dict[int, float], float]:
    """Peel `target` into panels (§2 of the module docstring): (weights by panel index, residual mass)."""
    weights: dict[int, float] = {}
    last: int | None = None  # the panel of the previous step, the starting point for `_repair`
    served = np.zeros_like(target)
    mass = 1.0
    for _ in range(max_steps):
        if mass <= PEEL_STOP:
            break
        q = (target - served) / mass
        tol = max(FACE_TOL, 1e-13 / mass)
        out, into = q <= tol, q >= 1.0 - tol
        counts_q = panels.membership @ q
        row_tol = tol * np.maximum(panels.membership.sum(axis=1), 1.0)
        at_low, at_high = counts_q <= lower + row_tol, counts_q >= upper - row_tol
        if (q < -1e3 * tol).any() or (q > 1.0 + 1e3 * tol).any():
            log.info("LEXIMIN peeling: residual left P at mass %.2g (round-off)", mass)
            break  # round-off has pushed the residual out of P: let the final LP decide
        best, best_step = None, 0.0
        for j, (mask, counts) in enumerate(zip(panels.masks, panels.counts, strict=True)):
            if (
                not (mask & out).any()
                and mask[into].all()
                and (counts[at_low] == lower[at_low]).all()
                and (counts[at_high] == upper[at_high]).all()
            ):
                step = _step(q, counts_q, mask, counts, lower, upper)
                if step > best_step:
                    best, best_step = j, step
        if last is not None and (best is None or best_step < MIN_REUSED_STEP):
            face_low, face_high = np.where(at_high, upper, lower), np.where(at_low, lower, upper)
            repaired = _repair(panels.masks[last], q, out, into, panels.membership, face_low, face_high)
            if repaired is not None:
                j = panels.add(np.flatnonzero(repaired))[0]
                step = _step(q, counts_q, panels.masks[j], panels.counts[j], lower, upper)
                if step > best_step:
                    best, best_step = j, step
        if best is None or best_step < MIN_REUSED_STEP:
            committee = oracle.find(q, out, into, at_low, at_high)
            if committee is None:
                log.info("LEXIMIN peeling: no panel on the residual's face at mass %.2g", mass)
                break  # the minimal face holds no panel: the residual ∉ Q (or round-off)
            j = panels.add(committee)[0]
            step = _step(q, counts_q, panels.masks[j], panels.counts[j], lower, upper)
            if step > best_step:
                best, best_step = j, step
        if best is None or best_step <= 1e-12:
            log.info("LEXIMIN peeling: no progress at mass %.2g", mass)
            break
        last = best
        weight = mass * best_step
        weights[best] = weights.get(best, 0.0) + weight
        served[panels.committees[best]] += weight
        mass -= weight
    return weights, max(mass, 0.0)


def _repair(
    mask: np.ndarray,
    q: np.ndarray,
    out: np.ndarray,
    into: np.ndarray,
    membership: np.ndarray,
    face_low: np.ndarray,
    face_high: np.ndarray,
) -> np.ndarray | None:
    """The previous step's panel moved onto the new face by one-for-one swaps (no ILP): each member now
    forced out is replaced by the eligible non-member that leaves the face's quota rows least violated
    (highest q among ties), each person now forced in replaces a member likewise (lowest q), then swaps
    that each cut the rows' total violation until none is left. None if that gets stuck."""
    mask = mask.copy()
    counts = membership @ mask

    def violation(new: np.ndarray) -> np.ndarray:
        return (np.maximum(new - face_high[:, None], 0) + np.maximum(face_low[:, None] - new, 0)).sum(0)

    for leaving in np.flatnonzero(mask & out):
        candidates = np.flatnonzero(~mask & ~out)
        if not len(candidates):
            return None
        total = violation(counts[:, None] - membership[:, [leaving]] + membership[:, candidates])
        fits = candidates[total == total.min()]
        joining = fits[np.argmax(q[fits])]
        mask[leaving], mask[joining] = False, True
        counts += membership[:, joining] - membership[:, leaving]
    for joining in np.flatnonzero(into & ~mask):
        candidates = np.flatnonzero(mask & ~into)
        if not len(candidates):
            return None
        total = violation(counts[:, None] + membership[:, [joining]] - membership[:, candidates])
        fits = candidates[total == total.min()]
        leaving = fits[np.argmin(q[fits])]
        mask[leaving], mask[joining] = False, True
        counts += membership[:, joining] - membership[:, leaving]
    for _ in range(3 * len(counts)):  # then swaps that cut the quota rows' total violation
        excess = np.maximum(counts - face_high, 0) + np.maximum(face_low - counts, 0)
        if not excess.any():
            return mask
        row = int(np.argmax(excess))
        over = counts[row] > face_high[row]
        inside = membership[row] > 0
        leavers = np.flatnonzero(mask & ~into & (inside if over else ~inside))
        joiners = np.flatnonzero(~mask & ~out & (~inside if over else inside))
        if not len(leavers) or not len(joiners):
            return None
        improved = False
        for leaving in leavers[np.argsort(q[leavers], kind="stable")][:32]:
            total = violation(counts[:, None] - membership[:, [leaving]] + membership[:, joiners])
            if total.min() < excess.sum():
                best = joiners[total == total.min()]
                joining = best[np.argmax(q[best])]
                mask[leaving], mask[joining] = False, True
                counts += membership[:, joining] - membership[:, leaving]
                improved = True
                break
        if not improved:
            return None
    return None


class _ShortfallLP:
    """min ε s.t. Σ_P λ_P = 1, |Σ_{P∋i} λ_P − target_i| ≤ ε (two rows per person), λ ≥ 0: rows fixed, one
    column per panel, added as found (never rebuilt; primal simplex re-solves warm after `addCols`). ε
    bounds the marginals' error directly. Its duals price panels: with y_i the sum of person i's two row
    duals (of either sign) and ŷ = −dual of the Σλ row, a panel P improves ε iff y(P) > ŷ, and at the
    optimum y·p̂ − ŷ = ε."""

    def __init__(self, target: np.ndarray) -> None:
        n = len(target)
        highs = _highs_lp()
        highs.setOptionValue("simplex_strategy", 4)
        infinity = np.full(n, highspy.kHighsInf)
        lower = np.concatenate([[1.0], target, -infinity])
        upper = np.concatenate([[1.0], infinity, target])
        rows = 2 * n + 1
        highs.addRows(rows, lower, upper, 0, np.zeros(rows, np.int32), np.zeros(0, np.int32), np.zeros(0))
        index = np.arange(1, rows, dtype=np.int32)
        highs.addCol(1.0, 0.0, highspy.kHighsInf, 2 * n, index, np.concatenate([np.ones(n), -np.ones(n)]))
        self.highs, self.n, self.columns = highs, n, 0

    def add(self, committees: list[np.ndarray]) -> None:
        if not committees:
            return
        m = len(committees)
        starts, index = _csr([np.concatenate([[0], c + 1, c + 1 + self.n]) for c in committees])
        self.highs.addCols(
            m, np.zeros(m), np.zeros(m), np.full(m, highspy.kHighsInf), len(index), starts, index,
            np.ones(len(index)),
        )  # fmt: skip
        self.columns += m

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, float]:
        """(ε, panel weights, y, ŷ)."""
        highs = self.highs
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise DemalignError(f"LEXIMIN decomposition LP: {highs.modelStatusToString(status)}")
        solution = highs.getSolution()
        values = np.asarray(solution.col_value)
        duals = np.asarray(solution.row_dual)
        n = self.n
        y = duals[1 : n + 1] + duals[n + 1 :]
        return float(values[0]), values[1:].copy(), y, -float(duals[0])


class _Pricer:
    """The best panel for person weights y: the LP relaxation over P first (an integral optimum is the
    best panel; a bound ≤ ŷ proves none beats ŷ), CBC (no cuts, no preprocessing) only otherwise."""

    def __init__(self, instance: Instance, solver: str, seed: int, gap: float) -> None:
        n = instance.size
        self.n = n
        highs = _highs_lp()
        highs.setOptionValue("simplex_strategy", 0)
        highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        highs.addVars(n, np.zeros(n), np.ones(n))
        k = float(instance.quotas.panel_size)
        highs.addRow(k, k, n, np.arange(n, dtype=np.int32), np.ones(n))
        members = [np.flatnonzero(row) for row in instance.membership()]
        starts, index = _csr(members)
        highs.addRows(
            len(members),
            instance.lower.astype(float),
            instance.upper.astype(float),
            len(index),
            starts,
            index,
            np.ones(len(index)),
        )
        self.highs = highs
        self.oracle = CommitteeOracle(instance, solver=solver, seed=seed, gap=gap)
        self.gap = gap

    def best(self, y: np.ndarray, threshold: float) -> tuple[np.ndarray | None, float]:
        """(a panel maximising y(P), or None when the LP proves none beats `threshold`; an upper bound
        on max_P y(P))."""
        self.highs.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), y)
        self.highs.run()
        bound = float(self.highs.getInfo().objective_function_value)
        x = np.asarray(self.highs.getSolution().col_value)
        if bound <= threshold:
            return None, bound + 1e-12
        if np.all(np.minimum(x, 1.0 - x) <= 1e-9):
            return np.flatnonzero(x > 0.5), bound + 1e-12
        committee = self.oracle.best(y)[0]
        return committee, min(bound, self.oracle.bound) + 1e-12


def leximin_distribution(
    instance: Instance,
    solver: str = "cbc",
    seed: int = 0,
    tolerance: float = 1e-6,
    initial_committees: int = 200,
    max_attempts: int = 100,
) -> PanelDistribution:
    """The LEXIMIN distribution over quota-feasible committees of `instance` (feasibility checked by the
    caller), certified exact within `tolerance` unless the log says otherwise (see the module docstring).

    `tolerance`: the certificate's bound on |marginals − LP bound| and on the decomposition's shortfall,
    and the dual above which a person is fixed. `initial_committees`: multiplicative-weights rounds whose
    panels join the fallback's column generation once it has priced `SEED_AFTER` panels; `solver` prices it (cbc or highs; the
    peeling's face ILPs always use CBC's first feasible solution). `max_attempts` is unused (kept for the
    caller's signature)."""
    del max_attempts
    start_time = time.perf_counter()
    n = instance.size
    lower, upper = instance.lower.astype(float), instance.upper.astype(float)
    membership = instance.membership().astype(float)
    relaxation = _Relaxation(instance)
    oracle = _FaceOracle(instance, seed)
    panels = _Panels(n, membership)
    pricer: _Pricer | None = None
    seeded = False

    def seed_panels() -> list[np.ndarray]:
        seeder = CommitteeOracle(instance, solver=solver, seed=seed, gap=1e-2)
        return [c for c in _multiplicative_weights(seeder, n, initial_committees, seed) if panels.add(c)[1]]

    max_steps = 20 * n + 200
    fallback_deadline: float | None = None
    rounds = 0
    while True:
        bound, solves = relaxation.leximin(tolerance)
        rounds += solves
        peeled, residual = _peel(bound, panels, oracle, lower, upper, max_steps)
        log.info(
            "LEXIMIN: relaxation in %d LP solves (%d cuts); peeling: %d panels, residual mass %.2g",
            solves,
            relaxation.cuts,
            len(peeled),
            residual,
        )
        if not panels.committees:  # the first face held no panel: start from any panel
            none = np.zeros(n, dtype=bool)
            panels.add(oracle.find(bound, none, none, np.zeros(len(lower), bool), np.zeros(len(lower), bool)))
        direct = np.zeros(len(panels.committees))
        for j, weight in peeled.items():
            direct[j] = weight
        if residual <= PEEL_STOP and direct.sum() > 0:  # the peeled lottery itself, if exact enough
            direct /= direct.sum()
            if _error(direct, panels, bound) <= tolerance:
                weights, shortfall, path, solved_lp = direct, 0.0, "peeling", False
                break
        master = _ShortfallLP(bound)
        master.add(panels.committees)
        shortfall, weights, y, y_hat = master.solve()
        path, solved_lp = "peeling", True
        goal = min(tolerance, POLISH_TARGET)
        if shortfall > goal:
            now = time.perf_counter()
            if pricer is None:
                pricer = _Pricer(instance, solver, seed, gap=goal / 10)
                fallback_deadline = now + FALLBACK_SECONDS
            shortfall, weights, cut, priced = _column_generation(
                master,
                pricer,
                panels,
                (goal, tolerance),
                fallback_deadline,
                (shortfall, weights, y, y_hat),
                None if seeded else seed_panels,
            )
            seeded = seeded or priced >= SEED_AFTER
            if priced:
                path = "column generation"
            if shortfall > tolerance and cut is not None and relaxation.cuts < MAX_CUTS:
                y_cut, limit = cut
                violation = float(y_cut @ bound) - limit
                if violation > tolerance / 10:
                    relaxation.add_cut(y_cut, limit)
                    log.info(
                        "LEXIMIN: p̂ is not achievable (shortfall %.3g); cut %d added",
                        shortfall,
                        relaxation.cuts,
                    )
                    continue
            if shortfall > tolerance:
                reason = "time cap" if time.perf_counter() >= fallback_deadline else "no progress"
                if relaxation.cuts >= MAX_CUTS:
                    reason = f"{MAX_CUTS} cuts"
                path = f"uncertified ({reason})"
        break

    if solved_lp:  # an LP vertex: drop the round-off weights it may carry
        weights = _prune(weights, panels, bound)
    support = np.flatnonzero(weights)
    chosen = np.asarray([panels.committees[j] for j in support])
    marginals = _marginals(weights, panels)
    certified = not path.startswith("uncertified")
    if certified:
        error = certify(marginals, bound, tolerance)
    else:
        error = float(np.max(np.abs(marginals - bound)))
        log.warning(
            "LEXIMIN not certified exact (%s): the lottery's marginals are within %.3g of the LEXIMIN bound "
            "(its least-served person within %.3g)",
            path,
            error,
            shortfall,
        )
    return PanelDistribution(
        chosen,
        weights[support],
        marginals,
        rounds,
        len(panels.committees),
        time.perf_counter() - start_time,
        certified=certified,
        bound=bound,
        marginal_error=error,
        residual=residual,
        cuts=relaxation.cuts,
        path=path,
    )


def _prune(weights: np.ndarray, panels: _Panels, bound: np.ndarray) -> np.ndarray:
    """The weights without panels below `SUPPORT_FLOOR` (the LP's vertex can carry weights of 1e-11 from
    the peeling's tail), re-solved over the panels kept, when that leaves the marginals as exact."""
    weights = np.clip(weights, 0.0, None)
    weights[weights < TINY_WEIGHT] = 0.0
    weights /= weights.sum()
    kept = np.flatnonzero(weights >= SUPPORT_FLOOR)
    if len(kept) == np.count_nonzero(weights):
        return weights
    master = _ShortfallLP(bound)
    master.add([panels.committees[j] for j in kept])
    pruned = np.zeros_like(weights)
    pruned[kept] = np.clip(master.solve()[1], 0.0, None)
    pruned[pruned < TINY_WEIGHT] = 0.0
    pruned /= pruned.sum()
    if _error(pruned, panels, bound) <= _error(weights, panels, bound) + 1e-10:
        return pruned
    return weights


def _marginals(weights: np.ndarray, panels: _Panels) -> np.ndarray:
    marginals = np.zeros(panels.n)
    for j in np.flatnonzero(weights):
        marginals[panels.committees[j]] += weights[j]
    return np.minimum(marginals, 1.0)


def _error(weights: np.ndarray, panels: _Panels, bound: np.ndarray) -> float:
    return float(np.max(np.abs(_marginals(weights, panels) - bound)))


def _column_generation(
    master: _ShortfallLP,
    pricer: _Pricer,
    panels: _Panels,
    targets: tuple[float, float],
    deadline: float,
    state: tuple[float, np.ndarray, np.ndarray, float],
    seed_panels: Callable[[], list[np.ndarray]] | None,
) -> tuple[float, np.ndarray, tuple[np.ndarray, float] | None, int]:
    """Price panels into the shortfall LP until ε ≤ goal, or ε ≤ tolerance after `POLISH_PANELS` priced
    panels (a count, not a clock: the result must not depend on the machine's speed), or no panel
    improves it: (ε, weights, cut, panels priced), the cut (y, bound) valid for every
    panel when column generation converged. After `SEED_AFTER` priced panels, `seed_panels` (the
    multiplicative-weights seeds) are added once."""
    goal, tolerance = targets
    shortfall, weights, y, y_hat = state
    price_tol = goal / 10
    priced = 0
    while shortfall > goal and time.perf_counter() < deadline:
        if shortfall <= tolerance and priced >= POLISH_PANELS:
            break
        if priced == SEED_AFTER and seed_panels is not None:
            master.add(seed_panels())
            shortfall, weights, y, y_hat = master.solve()
        committee, limit = pricer.best(y, y_hat + price_tol)
        if committee is None or y[committee].sum() <= y_hat + price_tol:
            return shortfall, weights, (y, limit), priced
        if not panels.add(committee)[1]:  # known: the LP should not price it again
            return shortfall, weights, (y, max(limit, y_hat)), priced
        master.add([committee])
        priced += 1
        shortfall, weights, y, y_hat = master.solve()
    return shortfall, weights, None, priced


def _multiplicative_weights(oracle: CommitteeOracle, n: int, rounds: int, seed: int) -> list[np.ndarray]:
    """Diverse seed panels: best panel for the weights, members' weights ×0.8 (a repeat mixes the weights
    toward uniform), `rounds` times."""
    rng = np.random.default_rng([seed, 0x4D57])
    weights = rng.uniform(0.99, 1.0, n)
    found: list[np.ndarray] = []
    known: set[bytes] = set()
    for _ in range(rounds):
        committee = oracle.best(weights)[0]
        key = committee.astype(np.int32).tobytes()
        if key in known:
            weights = 0.9 * weights + 0.1
        else:
            known.add(key)
            found.append(committee)
            weights[committee] *= 0.8
        weights *= n / weights.sum()
    return found


__all__ = ["CertificateError", "PanelDistribution", "certify", "leximin_distribution"]
