"""random: naive rejection sampling of uniformly random panels. For debugging only: on realistic
quotas almost every draw is rejected, so it gives up after a capped number of draws."""

from __future__ import annotations

import numpy as np

from demalign.errors import InfeasibleQuotasError
from demalign.panels.spec import Instance

DRAWS_PER_BATCH = 1024  # candidate panels checked per vectorised batch


def random_panel(instance: Instance, rng: np.random.Generator, max_attempts: int) -> np.ndarray:
    """A uniformly random k-subset meeting every quota (sorted person indices)."""
    k, n = instance.quotas.panel_size, instance.size
    lower, upper = instance.lower, instance.upper
    attempts = 0
    while attempts < max_attempts:
        batch = min(DRAWS_PER_BATCH, max_attempts - attempts)
        attempts += batch
        draws = np.argpartition(rng.random((batch, n)), k - 1, axis=1)[:, :k]
        counts = np.zeros((batch, len(lower)), dtype=np.int64)
        for column in instance.member_categories.T:
            np.add.at(counts, (np.repeat(np.arange(batch), k), column[draws].ravel()), 1)
        accepted = np.flatnonzero(((counts >= lower) & (counts <= upper)).all(axis=1))
        if accepted.size:
            return np.sort(draws[accepted[0]])
    raise InfeasibleQuotasError(
        f"panel.algorithm=random (debug only) drew {max_attempts} random panels and none met the quotas; "
        "use panel.algorithm=legacy or leximin, or raise panel.random_max_attempts"
    )
