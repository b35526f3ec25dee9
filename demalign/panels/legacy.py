"""LEGACY: the Sortition Foundation's greedy panel selection, vectorised over a batch of panels.

One step of one panel: among categories with people left, take the one whose unmet minimum is
largest relative to the people left in it ((min − selected) / remaining); seat a uniformly random
remaining member; when a category reaches its max, remove everyone left in it. A panel fails
when some category has fewer people left than its unmet minimum, and is retried from scratch.

Differences from the reference implementation:
- The reference removes the seated person from the remaining counts *before* counting them as
  selected, so it can never seat the last member of a category whose minimum is unmet: any
  category whose pool count equals its minimum makes every attempt fail. Here both counts move
  together, so such categories are fine.
- Many panels advance in lock step as rows of numpy arrays, and each panel draws its randomness
  from its own generator (a fixed block of uniforms per attempt), so a panel does not depend on
  which batch or worker produced it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from demalign.errors import InfeasibleQuotasError
from demalign.panels.spec import Instance

BATCH_ROWS = 128  # panels advanced together; larger batches amortise numpy's per-call overhead
DRAWS = 8  # member proposals per seat before the exact (slower) pick among those present


def panel_generator(seed: int, panel_index: int) -> np.random.Generator:
    """The generator of panel `panel_index`: the same as `SeedSequence(seed).spawn(N)[panel_index]`
    for any N, so results do not depend on how panels are split across workers."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(panel_index,)))


def legacy_panels(
    instance: Instance, generators: Sequence[np.random.Generator], max_attempts: int = 100
) -> np.ndarray:
    """One LEGACY panel per generator: an (N, k) array of sorted person indices.

    Raises `InfeasibleQuotasError` if a panel fails `max_attempts` attempts in a row.
    """
    k = instance.quotas.panel_size
    total = len(generators)
    panels = np.empty((total, k), dtype=np.int64)
    if total == 0:
        return panels
    membership = instance.membership()  # (C, n)
    member_categories = instance.member_categories  # (n, A)
    lower, upper = instance.lower, instance.upper
    n, n_categories = instance.size, len(lower)
    category_size = membership.sum(axis=1)
    # members[c, :size[c]] lists category c's people; padding points at the always-absent person n.
    members = np.full((n_categories, max(1, category_size.max())), n, dtype=np.int64)
    for c, row in enumerate(membership):
        members[c, : category_size[c]] = np.flatnonzero(row)

    # Categories whose max is 0 are closed from the start; column n is the padding person.
    alive0 = np.append(~membership[upper == 0].any(axis=0), False)
    remaining0 = (membership & alive0[:n]).sum(axis=1)

    rows = min(BATCH_ROWS, total)
    alive = np.empty((rows, n + 1), dtype=bool)
    selected = np.empty((rows, n_categories), dtype=np.int64)
    remaining = np.empty((rows, n_categories), dtype=np.int64)
    step = np.zeros(rows, dtype=np.int64)
    chosen = np.empty((rows, k), dtype=np.int64)
    # Per seat: DRAWS uniforms proposing members of the chosen category (the first one still
    # present is a uniform pick among those present), and one more for the exact fallback.
    uniforms = np.empty((rows, k, DRAWS + 1))
    panel_of_row = np.full(rows, -1, dtype=np.int64)
    attempts = np.zeros(total, dtype=np.int64)
    next_panel = 0

    def start(row: int, panel: int) -> None:
        alive[row] = alive0
        selected[row] = 0
        remaining[row] = remaining0
        step[row] = 0
        uniforms[row] = generators[panel].random((k, DRAWS + 1))
        panel_of_row[row] = panel
        attempts[panel] += 1

    for row in range(rows):
        start(row, next_panel)
        next_panel += 1

    while True:
        active = np.flatnonzero(panel_of_row >= 0)
        if active.size == 0:
            break
        if active.size < len(panel_of_row) // 2:  # compact the batch once most rows are idle
            alive, selected, remaining = alive[active], selected[active], remaining[active]
            step, chosen, uniforms, panel_of_row = (
                step[active],
                chosen[active],
                uniforms[active],
                panel_of_row[active],
            )
        batch = np.arange(len(panel_of_row))
        seat = np.minimum(step, k - 1)

        with np.errstate(divide="ignore", invalid="ignore"):
            urgency = np.where(remaining > 0, (lower - selected) / remaining, -np.inf)
        category = urgency.argmax(axis=1)
        stuck = urgency[batch, category] == -np.inf
        draws = uniforms[batch, seat]  # (B, DRAWS + 1)
        slots = (draws[:, :DRAWS] * category_size[category][:, None]).astype(np.int64)
        proposals = members[category[:, None], slots]
        present = alive[batch[:, None], proposals]
        person = proposals[batch, present.argmax(axis=1)]
        missed = np.flatnonzero(~present.any(axis=1) & ~stuck)
        if missed.size:  # exact fallback: the rank-th present member, rank uniform in [0, remaining)
            candidates = alive[missed[:, None], members[category[missed]]]
            rank = (draws[missed, DRAWS] * remaining[missed, category[missed]]).astype(np.int64)
            position = (np.cumsum(candidates, axis=1, dtype=np.int32) > rank[:, None]).argmax(axis=1)
            person[missed] = members[category[missed], position]
        person[stuck] = 0  # any index: a stuck row is restarted below

        alive[batch, person] = False
        chosen[batch, seat] = person
        step += 1
        touched = member_categories[person]  # (B, A); categories within a row are distinct
        selected[batch[:, None], touched] += 1
        remaining[batch[:, None], touched] -= 1
        full = selected[batch[:, None], touched] >= upper[touched]
        newly_full_rows = np.flatnonzero(full.any(axis=1))
        if newly_full_rows.size:
            # Integer bookkeeping, not a BLAS product: on a loaded machine a multithreaded BLAS call
            # on these tiny matrices cost milliseconds (threads spinning), dominating the whole step.
            closed = np.zeros((newly_full_rows.size, n_categories), dtype=bool)
            hit = np.nonzero(full[newly_full_rows])
            closed[hit[0], touched[newly_full_rows][hit]] = True
            removed = alive[newly_full_rows, :n] & closed[:, member_categories].any(axis=2)
            alive[newly_full_rows, :n] &= ~removed
            row, person_removed = np.nonzero(removed)
            slots = (row[:, None] * n_categories + member_categories[person_removed]).ravel()
            remaining[newly_full_rows] -= np.bincount(
                slots, minlength=newly_full_rows.size * n_categories
            ).reshape(newly_full_rows.size, n_categories)

        short = (remaining < lower - selected).any(axis=1) | stuck
        done = step >= k
        met = (selected >= lower).all(axis=1) & (selected <= upper).all(axis=1)
        for row in np.flatnonzero((short | done) & (panel_of_row >= 0)):
            panel = panel_of_row[row]
            if done[row] and not short[row] and met[row]:
                panels[panel] = np.sort(chosen[row])
                if next_panel < total:
                    start(row, next_panel)
                    next_panel += 1
                else:
                    panel_of_row[row] = -1
            elif attempts[panel] < max_attempts:
                start(row, panel)
            else:
                raise InfeasibleQuotasError(
                    f"LEGACY found no panel in {max_attempts} attempts (panel {panel}); the quotas are "
                    "feasible (checked) but too tight for the greedy heuristic. Raise panel.max_attempts, "
                    "panel.tolerance, or use panel.algorithm=leximin"
                )
    return panels
