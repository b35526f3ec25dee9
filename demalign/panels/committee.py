"""The committee ILP (a binary per person, panel size fixed, quota rows) and the feasibility diagnosis.

One model is built per instance and reused: LEXIMIN's pricing step only changes the objective.
CBC (python-mip) is the default; the reference measured it 6–8× faster than HiGHS on these ILPs.
CBC runs single-threaded so the same instance gives the same committees in any process. HiGHS is
deterministic for a given `random_seed` at any thread count; its `threads` option is left alone because
HiGHS's scheduler is process-global: setting another value after some other Highs object (e.g. the
reference library's) started it made the next run hang.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mip
import numpy as np

from demalign.errors import InfeasibleQuotasError
from demalign.panels.spec import Instance

if TYPE_CHECKING:
    import highspy


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 (where C libraries print) to /dev/null for the duration."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing (its first construction prints a banner to fd 1)."""
    import highspy

    with stdout_silenced():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


class CommitteeOracle:
    """Finds quota-feasible committees maximising a weight per person."""

    def __init__(self, instance: Instance, solver: str = "cbc", seed: int = 0, gap: float = 1e-6) -> None:
        """`gap`: absolute (and relative) optimality gap; weights here sum to about 1, so a committee
        returned as best is within `gap` of the true optimum."""
        self.instance = instance
        self.gap = gap
        self.solver = solver
        self.bound = float("inf")  # upper bound on the optimum of the last `best` call
        membership = instance.membership()
        self._rows = [np.flatnonzero(row) for row in membership]
        if solver == "cbc":
            self._build_mip(seed)
        else:
            self._build_highs(seed)

    def _build_mip(self, seed: int) -> None:
        model = mip.Model(sense=mip.MAXIMIZE, solver_name=mip.CBC)
        model.verbose = 0
        model.threads = 1
        model.seed = seed
        model.max_mip_gap = self.gap
        model.max_mip_gap_abs = self.gap
        model.cuts = 0  # measured: same optima, ~40 % faster on these ILPs
        model.preprocess = 0
        self._vars = [model.add_var(var_type=mip.BINARY) for _ in range(self.instance.size)]
        model += mip.xsum(self._vars) == self.instance.quotas.panel_size
        for members, low, high in zip(self._rows, self.instance.lower, self.instance.upper, strict=True):
            total = mip.xsum(self._vars[i] for i in members)
            if low > 0:
                model += total >= int(low)
            if high < self.instance.quotas.panel_size:
                model += total <= int(high)
        self._model = model

    def _build_highs(self, seed: int) -> None:
        import highspy

        n = self.instance.size
        highs = quiet_highs()
        highs.setOptionValue("random_seed", seed)
        highs.setOptionValue("mip_rel_gap", self.gap)
        highs.setOptionValue("mip_abs_gap", self.gap)
        highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        highs.addVars(n, np.zeros(n), np.ones(n))
        highs.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger)
        )
        k = self.instance.quotas.panel_size
        highs.addRow(k, k, n, np.arange(n, dtype=np.int32), np.ones(n))
        for members, low, high in zip(self._rows, self.instance.lower, self.instance.upper, strict=True):
            highs.addRow(
                float(low), float(high), len(members), members.astype(np.int32), np.ones(len(members))
            )
        self._highs = highs

    def best(self, weights: np.ndarray) -> list[np.ndarray]:
        """Committees (sorted person indices) of maximal total weight, best first; with CBC also the
        other solutions it found on the way (free extra columns for column generation)."""
        if self.solver == "cbc":
            return self._best_mip(weights)
        return self._best_highs(weights)

    def _best_mip(self, weights: np.ndarray) -> list[np.ndarray]:
        model = self._model
        chosen = np.flatnonzero(weights)  # LinExpr from lists: ~5x cheaper than xsum of products
        model.objective = mip.LinExpr([self._vars[i] for i in chosen], [float(weights[i]) for i in chosen])
        status = model.optimize()
        if status not in (mip.OptimizationStatus.OPTIMAL, mip.OptimizationStatus.FEASIBLE):
            raise InfeasibleQuotasError(
                f"the committee ILP returned {status.name}; no panel meets the quotas"
            )
        self.bound = float(model.objective_bound)
        committees = []
        for k in range(model.num_solutions):
            values = np.array([v.xi(k) for v in self._vars])
            committees.append(np.flatnonzero(values > 0.5))
        return committees

    def _best_highs(self, weights: np.ndarray) -> list[np.ndarray]:
        import highspy

        n = self.instance.size
        self._highs.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(weights, dtype=float))
        self._highs.run()
        if self._highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise InfeasibleQuotasError("the committee ILP found no panel meeting the quotas")
        self.bound = float(self._highs.getInfo().mip_dual_bound)
        values = np.asarray(self._highs.getSolution().col_value)
        return [np.flatnonzero(values > 0.5)]


@dataclass(frozen=True)
class Relaxation:
    """The smallest change to the quota bounds that makes a panel possible."""

    lower_decrease: dict[int, int]  # category index -> how much its min must drop
    upper_increase: dict[int, int]  # category index -> how much its max must rise


def smallest_relaxation(instance: Instance) -> Relaxation:
    """Minimise the total change (Σ min decreases + Σ max increases) making the quotas satisfiable.

    Solved exactly as an ILP over the same committee variables, so a relaxation that needs two
    categories moved at once (a joint conflict no single row shows) is found too.
    """
    k = instance.quotas.panel_size
    model = mip.Model(sense=mip.MINIMIZE, solver_name=mip.CBC)
    model.verbose = 0
    model.threads = 1
    chosen = [model.add_var(var_type=mip.BINARY) for _ in range(instance.size)]
    model += mip.xsum(chosen) == k
    membership = instance.membership()
    drops, raises = [], []
    for c, (low, high) in enumerate(zip(instance.lower, instance.upper, strict=True)):
        drop = model.add_var(var_type=mip.INTEGER, lb=0, ub=int(low))
        rise = model.add_var(var_type=mip.INTEGER, lb=0, ub=k)
        total = mip.xsum(chosen[i] for i in np.flatnonzero(membership[c]))
        model += total >= int(low) - drop
        model += total <= int(high) + rise
        drops.append(drop)
        raises.append(rise)
    model.objective = mip.xsum(drops) + mip.xsum(raises)
    status = model.optimize()
    if status != mip.OptimizationStatus.OPTIMAL:
        raise InfeasibleQuotasError(
            f"the pool has {instance.size} people, fewer than panel_size={k}; "
            "lower panel.panel_size or widen panel.locale_filter"
        )
    return Relaxation(
        {c: round(v.x) for c, v in enumerate(drops) if round(v.x) > 0},
        {c: round(v.x) for c, v in enumerate(raises) if round(v.x) > 0},
    )


def check_feasible(instance: Instance) -> None:
    """Raise `InfeasibleQuotasError` naming the conflicting categories and the smallest relaxation
    if no panel meets the quotas; return silently otherwise."""
    quotas = instance.quotas
    k = quotas.panel_size
    if instance.size < k:
        raise InfeasibleQuotasError(
            f"the pool has {instance.size} people after the locale filter, fewer than "
            f"panel.panel_size={k}; lower panel_size or widen panel.locale_filter"
        )
    relaxation = smallest_relaxation(instance)
    if not relaxation.lower_decrease and not relaxation.upper_increase:
        return
    pool_counts = instance.category_counts(np.arange(instance.size))
    conflicts = []
    for c in sorted(set(relaxation.lower_decrease) | set(relaxation.upper_increase)):
        attribute = quotas.categories[c][0]
        same = [j for j, pair in enumerate(quotas.categories) if pair[0] == attribute]
        detail = (
            f"{quotas.label(c)} has quota [{quotas.lower[c]}, {quotas.upper[c]}] and the pool has "
            f"{pool_counts[c]} after the locale filter"
        )
        if pool_counts[c] < quotas.lower[c]:
            detail = (
                f"{quotas.label(c)} needs >= {quotas.lower[c]} but the pool has {pool_counts[c]} "
                "after the locale filter"
            )
        elif sum(quotas.lower[j] for j in same) > k:
            detail += (
                f"; the mins of {attribute} add up to {sum(quotas.lower[j] for j in same)} > panel_size={k}"
            )
        elif sum(min(quotas.upper[j], pool_counts[j]) for j in same) < k:
            detail += (
                f"; at most {sum(min(quotas.upper[j], pool_counts[j]) for j in same)} of {attribute} "
                f"can be seated < panel_size={k}"
            )
        else:
            detail += " (a joint conflict with other attributes)"
        conflicts.append(detail)
    changes = [
        f"{quotas.label(c)} min {quotas.lower[c]} -> {quotas.lower[c] - d}"
        for c, d in sorted(relaxation.lower_decrease.items())
    ]
    changes += [
        f"{quotas.label(c)} max {quotas.upper[c]} -> {quotas.upper[c] + u}"
        for c, u in sorted(relaxation.upper_increase.items())
    ]
    raise InfeasibleQuotasError(
        "no panel of size {k} meets the quotas. Conflicts: {conflicts}. Smallest relaxation (total change {total}): "
        "{changes}. Raise panel.tolerance, lower panel.panel_size, move a category to slack_categories, "
        "or adjust its population_proportions.".format(
            k=k,
            conflicts="; ".join(conflicts),
            changes="; ".join(changes),
            total=sum(relaxation.lower_decrease.values()) + sum(relaxation.upper_increase.values()),
        )
    )
