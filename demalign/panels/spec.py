"""Panel spec (the `conf/panel/*.yaml` vocabulary) -> quotas, and the pool encoded for the samplers.

Quotas follow the seed tool: for a category with population share p, panel size k and tolerance t,
`min = floor(k·p·(1−t))` and `max = ceil(k·p·(1+t))`; slack categories get `[0, k]`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from demalign.errors import ConfigError, DataError

ALGORITHMS = ("legacy", "leximin", "random")
UNLISTED_POLICIES = ("error", "slack", "exclude")
SOLVERS = ("cbc", "highs")
MISSING_CATEGORY = "(missing)"  # label for an empty cell, so the unlisted-category policy covers it too

_REQUIRED = object()
# Keys of a panel spec with their defaults.
_DEFAULTS: dict[str, Any] = {
    "panel_size": _REQUIRED,
    "tolerance": _REQUIRED,
    "locale_filter": None,
    "locale_column": "study_locale",
    "algorithm": "leximin",
    "seed": 0,
    "num_panel_samples": 2000,
    "num_workers": 1,
    "max_attempts": 100,
    "random_max_attempts": 100_000,
    "unlisted_categories": "error",
    "solver": "cbc",
    "leximin_tolerance": 1e-6,
    "leximin_initial_committees": 200,
    "attributes": _REQUIRED,
}


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    column: str
    population_proportions: dict[str, float]
    slack_categories: tuple[str, ...]


@dataclass(frozen=True)
class PanelSpec:
    """A validated panel spec; `from_mapping` names the offending `panel.<key>` on any error."""

    panel_size: int
    tolerance: float
    locale_filter: str | None
    locale_column: str
    algorithm: str
    seed: int
    num_panel_samples: int
    num_workers: int
    max_attempts: int
    random_max_attempts: int
    unlisted_categories: str
    solver: str
    leximin_tolerance: float
    leximin_initial_committees: int
    attributes: tuple[AttributeSpec, ...]

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> PanelSpec:
        unknown = sorted(set(spec) - set(_DEFAULTS))
        if unknown:
            raise ConfigError(f"panel: unknown key(s) {unknown}; known keys are {sorted(_DEFAULTS)}")
        values = {key: spec.get(key, default) for key, default in _DEFAULTS.items()}
        missing = [key for key, value in values.items() if value is _REQUIRED]
        if missing:
            raise ConfigError(f"panel: missing required key(s) {missing}")
        _check_int(values, "panel_size", 1)
        _check_int(values, "num_panel_samples", 1)
        _check_int(values, "num_workers", 1)
        _check_int(values, "max_attempts", 1)
        _check_int(values, "random_max_attempts", 1)
        _check_int(values, "leximin_initial_committees", 0)
        _check_int(values, "seed", 0)
        tolerance = float(values["tolerance"])
        if not 0.0 <= tolerance < 1.0:
            raise ConfigError(f"panel.tolerance must lie in [0, 1), got {tolerance}")
        if not 0.0 < float(values["leximin_tolerance"]) < 1e-2:
            raise ConfigError(
                f"panel.leximin_tolerance must lie in (0, 0.01), got {values['leximin_tolerance']}"
            )
        for key, allowed in (
            ("algorithm", ALGORITHMS),
            ("unlisted_categories", UNLISTED_POLICIES),
            ("solver", SOLVERS),
        ):
            if values[key] not in allowed:
                raise ConfigError(f"panel.{key} must be one of {list(allowed)}, got {values[key]!r}")
        values["tolerance"] = tolerance
        values["leximin_tolerance"] = float(values["leximin_tolerance"])
        values["locale_filter"] = None if values["locale_filter"] is None else str(values["locale_filter"])
        values["attributes"] = _parse_attributes(values["attributes"])
        return cls(**values)


def _check_int(values: dict[str, Any], key: str, minimum: int) -> None:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"panel.{key} must be an integer >= {minimum}, got {value!r}")
    values[key] = int(value)


def _parse_attributes(raw: Any) -> tuple[AttributeSpec, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ConfigError(
            "panel.attributes must be a non-empty list of {name, column, population_proportions}"
        )
    attributes = []
    for index, item in enumerate(raw):
        where = f"panel.attributes[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {item!r}")
        unknown = sorted(set(item) - {"name", "column", "population_proportions", "slack_categories"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}")
        name = str(item.get("name") or item.get("column") or "")
        column = str(item.get("column") or name)
        if not name:
            raise ConfigError(f"{where} needs a name or a column")
        proportions = item.get("population_proportions")
        if not isinstance(proportions, Mapping) or not proportions:
            raise ConfigError(
                f"{where} ({name}).population_proportions must be a non-empty mapping category: share"
            )
        shares = {str(category): float(share) for category, share in proportions.items()}
        bad = {c: s for c, s in shares.items() if not 0.0 <= s <= 1.0}
        if bad:
            raise ConfigError(f"{where} ({name}).population_proportions: shares outside [0, 1]: {bad}")
        if sum(shares.values()) > 1.0 + 1e-3:
            raise ConfigError(
                f"{where} ({name}).population_proportions sum to {sum(shares.values()):.4f} > 1"
            )
        slack = tuple(str(c) for c in item.get("slack_categories") or ())
        attributes.append(AttributeSpec(name, column, shares, slack))
    names = [a.name for a in attributes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"panel.attributes: duplicate attribute name(s) {duplicates}")
    return tuple(attributes)


@dataclass(frozen=True)
class Quotas:
    """Per-(attribute, category) bounds on how many panel members fall in the category.

    Categories are numbered globally in spec order (attribute by attribute); `lower[c]`, `upper[c]`
    and `target_share[c]` belong to `categories[c]`.
    """

    panel_size: int
    attributes: tuple[str, ...]
    columns: tuple[str, ...]
    categories: tuple[tuple[str, str], ...]
    target_share: tuple[float | None, ...]
    lower: tuple[int, ...]
    upper: tuple[int, ...]

    def as_dict(self) -> dict[str, dict[str, list[int]]]:
        """`{attribute: {category: [min, max]}}`, the `panel.json` shape."""
        out: dict[str, dict[str, list[int]]] = {name: {} for name in self.attributes}
        for (attribute, category), low, high in zip(self.categories, self.lower, self.upper, strict=True):
            out[attribute][category] = [low, high]
        return out

    def label(self, index: int) -> str:
        attribute, category = self.categories[index]
        return f"{attribute}={category}"


@dataclass(frozen=True)
class Instance:
    """A pool encoded for the samplers: `member_categories[i, a]` is the global category index of
    person `user_ids[i]` under attribute `a` (people sorted by user id, so results never depend on
    the pool's row order)."""

    quotas: Quotas
    user_ids: tuple[str, ...]
    member_categories: np.ndarray  # (n, A) int

    @property
    def size(self) -> int:
        return len(self.user_ids)

    @property
    def lower(self) -> np.ndarray:
        return np.asarray(self.quotas.lower, dtype=np.int64)

    @property
    def upper(self) -> np.ndarray:
        return np.asarray(self.quotas.upper, dtype=np.int64)

    def membership(self) -> np.ndarray:
        """(C, n) boolean: person i belongs to category c."""
        matrix = np.zeros((len(self.quotas.categories), self.size), dtype=bool)
        for column in self.member_categories.T:
            matrix[column, np.arange(self.size)] = True
        return matrix

    def category_counts(self, chosen: np.ndarray) -> np.ndarray:
        """How many of the people at indices `chosen` fall in each category."""
        return np.bincount(self.member_categories[chosen].ravel(), minlength=len(self.quotas.categories))

    def meets_quotas(self, chosen: np.ndarray) -> bool:
        counts = self.category_counts(chosen)
        return len(chosen) == self.quotas.panel_size and bool(
            np.all(counts >= self.lower) and np.all(counts <= self.upper)
        )


def _category_labels(pool: pd.DataFrame, column: str) -> pd.Series:
    values = pool[column]
    return values.where(values.notna(), MISSING_CATEGORY).astype(str)


def build_quotas(spec: Mapping[str, Any] | PanelSpec, pool: pd.DataFrame) -> tuple[Quotas, pd.DataFrame]:
    """Quotas for `spec` and the pool they apply to: locale-filtered, unlisted categories handled
    per `unlisted_categories`, sorted by user id (the index).

    Example: k=20, tolerance 0.1, share 0.5 -> min floor(20·0.5·0.9)=9, max ceil(20·0.5·1.1)=11.
    """
    spec = spec if isinstance(spec, PanelSpec) else PanelSpec.from_mapping(spec)
    needed = [a.column for a in spec.attributes] + ([spec.locale_column] if spec.locale_filter else [])
    absent = sorted({c for c in needed if c not in pool.columns})
    if absent:
        raise ConfigError(
            f"panel.attributes: column(s) {absent} not in the survey; available columns: "
            f"{sorted(map(str, pool.columns))}"
        )
    filtered = pool
    if spec.locale_filter is not None:
        filtered = filtered[filtered[spec.locale_column].astype(str) == spec.locale_filter]
        if filtered.empty:
            present = sorted(pool[spec.locale_column].dropna().astype(str).unique())
            raise DataError(
                f"panel.locale_filter={spec.locale_filter!r} keeps no user "
                f"({spec.locale_column} values present: {present})"
            )

    unlisted: dict[str, list[str]] = {}
    keep = np.ones(len(filtered), dtype=bool)
    for attribute in spec.attributes:
        labels = _category_labels(filtered, attribute.column)
        listed = set(attribute.population_proportions) | set(attribute.slack_categories)
        extra = sorted(set(labels) - listed)
        if extra:
            unlisted[attribute.name] = extra
            if spec.unlisted_categories == "exclude":
                keep &= ~labels.isin(extra).to_numpy()
    if unlisted and spec.unlisted_categories == "error":
        detail = "; ".join(f"{name}: {cats}" for name, cats in unlisted.items())
        raise ConfigError(
            f"pool categories missing from panel.attributes[].population_proportions: {detail}. "
            "List them, or set panel.unlisted_categories=slack (quota [0, panel_size]) or "
            "exclude (drop those users)"
        )
    filtered = filtered[keep].sort_index(key=lambda index: index.astype(str))

    k = spec.panel_size
    categories: list[tuple[str, str]] = []
    shares: list[float | None] = []
    lower: list[int] = []
    upper: list[int] = []
    for attribute in spec.attributes:
        extra = unlisted.get(attribute.name, []) if spec.unlisted_categories == "slack" else []
        for category in [*attribute.population_proportions, *attribute.slack_categories, *extra]:
            if (attribute.name, category) in categories:
                continue
            share = attribute.population_proportions.get(category)
            categories.append((attribute.name, category))
            shares.append(share)
            if share is None or category in attribute.slack_categories or category in extra:
                lower.append(0)
                upper.append(k)
            else:
                # The rounding guard keeps k·p·(1±t) = 9.000000001 from becoming a ceiling of 10.
                lower.append(math.floor(round(k * share * (1 - spec.tolerance), 9)))
                upper.append(min(k, math.ceil(round(k * share * (1 + spec.tolerance), 9))))
    quotas = Quotas(
        k,
        tuple(a.name for a in spec.attributes),
        tuple(a.column for a in spec.attributes),
        tuple(categories),
        tuple(shares),
        tuple(lower),
        tuple(upper),
    )
    return quotas, filtered


def encode_pool(quotas: Quotas, pool: pd.DataFrame) -> Instance:
    """The `Instance` for a pool returned by `build_quotas` (every category is listed by then)."""
    index_of = {pair: i for i, pair in enumerate(quotas.categories)}
    pool = pool.sort_index(key=lambda index: index.astype(str))
    columns = []
    for name, column in zip(quotas.attributes, quotas.columns, strict=True):
        labels = _category_labels(pool, column)
        try:
            columns.append([index_of[(name, label)] for label in labels])
        except KeyError as error:
            raise ConfigError(
                f"panel attribute {name}: category {error.args[0][1]!r} has no quota; "
                "pass the pool returned by build_quotas"
            ) from None
    matrix = np.asarray(columns, dtype=np.int64).T.reshape(len(pool), len(quotas.attributes))
    return Instance(quotas, tuple(map(str, pool.index)), matrix)
