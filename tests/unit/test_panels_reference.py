"""Cross-checks against the Sortition Foundation's `sortition-algorithms` (the reference), on small instances.

The reference is a dev dependency (its HiGHS backend; its CBC backend pins mip<2 and lives in the bench's
separate environment). It reads quotas and people as CSV text, so each instance is written out in its
features/people table format and the same committees are judged by both libraries.
"""

from __future__ import annotations

import numpy as np
import pytest

from demalign.panels.legacy import legacy_panels, panel_generator
from demalign.panels.leximin import leximin_distribution
from demalign.panels.spec import Instance
from tests.unit.test_panels import make_instance

sortition_algorithms = pytest.importorskip("sortition_algorithms")
from sortition_algorithms import CSVStringDataSource, SelectionData, Settings  # noqa: E402
from sortition_algorithms.committee_generation.common import check_category_selected  # noqa: E402
from sortition_algorithms.committee_generation.maximin import find_distribution_maximin  # noqa: E402


def reference_inputs(instance: Instance):
    """The instance as the reference's (FeatureCollection, People), person i having id `instance.user_ids[i]`."""
    quotas = instance.quotas
    features = ["feature,value,min,max"] + [
        f"{attribute},{category},{low},{high}"
        for (attribute, category), low, high in zip(
            quotas.categories, quotas.lower, quotas.upper, strict=True
        )
    ]
    people = ["id," + ",".join(quotas.attributes)] + [
        ",".join([user, *(quotas.categories[c][1] for c in row)])
        for user, row in zip(instance.user_ids, instance.member_categories, strict=True)
    ]
    data = SelectionData(CSVStringDataSource("\n".join(features) + "\n", "\n".join(people) + "\n"))
    feature_collection, _ = data.load_features(number_to_select=quotas.panel_size)
    settings = Settings(
        id_column="id",
        columns_to_keep=[],
        check_same_address=False,
        selection_algorithm="maximin",
        solver_backend="highspy",
        random_number_seed=1,
    )
    people_collection, _ = data.load_people(settings, feature_collection)
    return feature_collection, people_collection


def random_instance(seed: int) -> Instance:
    """n=30, k=8, three attributes with 2, 3 and 2 categories; quotas around a random committee's counts
    (so feasible) and tight enough that some people must be picked more often than others."""
    rng = np.random.default_rng(seed)
    categories = np.stack([rng.integers(0, s, 30) for s in (2, 3, 2)], axis=1)
    witness = rng.choice(30, 8, replace=False)
    bounds = [
        [(max(0, int(c) - 1), int(c) + 1) for c in np.bincount(categories[witness, a], minlength=s)]
        for a, s in enumerate((2, 3, 2))
    ]
    return make_instance(categories, bounds, 8)


@pytest.mark.parametrize("seed", range(3))
def test_leximin_minimum_equals_reference_maximin(seed):
    """LEXIMIN first maximises the smallest probability, so its minimum over people who can sit on some
    panel must equal the reference maximin optimum (over the people its committees cover) within 1e-4,
    and both must agree on who can never be seated."""
    instance = random_instance(seed)
    features, people = reference_inputs(instance)
    committees, probabilities, _ = find_distribution_maximin(features, people, instance.quotas.panel_size, [])
    reference = dict.fromkeys(instance.user_ids, 0.0)
    for committee, probability in zip(committees, probabilities, strict=True):
        for user in committee:
            reference[user] += probability
    covered = sorted(set().union(*committees))
    ours = leximin_distribution(instance, seed=seed)
    position = {user: i for i, user in enumerate(instance.user_ids)}
    assert sorted(u for u in instance.user_ids if ours.marginals[position[u]] > 1e-9) == covered
    ours_min = min(ours.marginals[position[u]] for u in covered)
    assert ours_min == pytest.approx(min(reference[u] for u in covered), abs=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_every_legacy_panel_passes_the_reference_quota_check(seed):
    """50 LEGACY panels per instance; the reference's own post-selection check raises on any quota miss."""
    instance = random_instance(seed)
    features, people = reference_inputs(instance)
    for panel in legacy_panels(instance, [panel_generator(seed, i) for i in range(50)], max_attempts=500):
        check_category_selected(features, people, [frozenset(instance.user_ids[i] for i in panel)], 1)


def test_reference_check_rejects_a_panel_that_misses_a_quota():
    """The check is not vacuous: a panel of the first 8 people misses some bound on seed 0's instance
    (ours says so too), and the reference raises."""
    instance = random_instance(0)
    features, people = reference_inputs(instance)
    wrong = next(
        np.arange(start, start + 8)
        for start in range(23)
        if not instance.meets_quotas(np.arange(start, start + 8))
    )
    with pytest.raises(sortition_algorithms.errors.SelectionMultilineError):
        check_category_selected(features, people, [frozenset(instance.user_ids[i] for i in wrong)], 1)
