"""Monte-Carlo selection probabilities: the share of `num_panel_samples` independent panels each
person sits on, with its binomial standard error.

Panel j always uses the generator `panel_generator(seed, j)`, and workers take contiguous blocks
of panel indices, so the estimate is identical for any number of workers.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from multiprocessing import get_context

import numpy as np
from tqdm import tqdm

from demalign.panels.legacy import legacy_panels, panel_generator
from demalign.panels.random_sampling import random_panel
from demalign.panels.spec import Instance

CHUNK_PANELS = 250  # panels per task handed to a worker (also the progress-bar step)


@dataclass(frozen=True)
class MonteCarloEstimate:
    probabilities: np.ndarray  # (n,) share of panels each person sits on
    std_errors: np.ndarray  # (n,) sqrt(p(1−p)/N)
    distinct_panels: int
    num_panels: int


def sample_panels(
    instance: Instance, algorithm: str, seed: int, first: int, stop: int, max_attempts: int
) -> np.ndarray:
    """Panels `first..stop-1` of the seed's sequence, as an (N, k) array of sorted person indices."""
    generators = [panel_generator(seed, index) for index in range(first, stop)]
    if algorithm == "legacy":
        return legacy_panels(instance, generators, max_attempts=max_attempts)
    return np.asarray([random_panel(instance, rng, max_attempts) for rng in generators])


def monte_carlo_probabilities(
    instance: Instance, algorithm: str, seed: int, num_panels: int, num_workers: int, max_attempts: int
) -> MonteCarloEstimate:
    """Selection frequencies over `num_panels` panels of `algorithm` (legacy or random)."""
    bounds = [*range(0, num_panels, CHUNK_PANELS), num_panels]
    tasks = [(instance, algorithm, seed, start, stop, max_attempts) for start, stop in pairwise(bounds)]
    bar = tqdm(
        total=num_panels,
        desc=f"{algorithm} panels",
        unit="panel",
        leave=False,
        disable=num_panels < 4 * CHUNK_PANELS,
    )
    chunks = []
    if num_workers == 1:
        for task in tasks:
            chunks.append(sample_panels(*task))
            bar.update(len(chunks[-1]))
    else:
        # spawn, not fork: the parent may hold threads (BLAS, torch) that fork would copy mid-lock.
        with ProcessPoolExecutor(num_workers, mp_context=get_context("spawn")) as pool:
            for chunk in pool.map(sample_panels, *zip(*tasks, strict=True)):
                chunks.append(chunk)
                bar.update(len(chunk))
    bar.close()
    panels = np.concatenate(chunks)
    counts = np.bincount(panels.ravel(), minlength=instance.size)
    probabilities = counts / num_panels
    std_errors = np.sqrt(probabilities * (1.0 - probabilities) / num_panels)
    distinct = len(np.unique(panels, axis=0))
    return MonteCarloEstimate(probabilities, std_errors, distinct, num_panels)
