"""Drift metrics between a reference and a production distribution, from value counts.

Numerical features come as sorted distinct values with their counts (exact: the same numbers as
the raw values would give); categorical ones as category counts compared as text. Nulls (and
NaN) are ignored per feature: each metric uses that feature's non-null values only.

Reference: the platform's model-monitoring metric definitions (see the monitoring docs), and
scipy for each statistic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modeltap.errors import MissingDependencyError

__all__ = [
    "Bins",
    "Categories",
    "categorical_metric",
    "categories",
    "chebyshev_distance",
    "jensen_shannon_distance",
    "normalized_wasserstein_distance",
    "numerical_bins",
    "numerical_metric",
    "pearsons_chi_squared_test",
    "population_stability_index",
    "sturges_bin_count",
    "two_sample_kolmogorov_smirnov_test",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
KS_EXACT_MAX_N = 10_000
"""Up to this many values on the larger side scipy's ``ks_2samp`` computes the exact p-value."""


def _scipy_stats() -> Any:
    """``scipy.stats``, or MissingDependencyError with the install hint."""
    try:
        import scipy.spatial.distance
        import scipy.stats
    except ImportError:
        raise MissingDependencyError(
            "monitoring needs scipy: pip install 'modeltap[monitor]'"
        ) from None
    return scipy.stats


@dataclass(frozen=True)
class Bins:
    """Equal-width bins over the combined range and each side's count per bin.

    ``edges`` has ``k + 1`` entries; bin ``i`` is ``[edges[i], edges[i+1])``, the last one
    closed, and the last edge is the combined maximum itself."""

    edges: FloatArray
    reference: IntArray
    production: IntArray


@dataclass(frozen=True)
class Categories:
    """The union of both sides' categories (reference order first) and each side's counts."""

    names: list[str]
    reference: IntArray
    production: IntArray


def sturges_bin_count(n: int) -> int:
    """``k = ceil(log2(n) + 1)`` (Sturges), at least 1."""
    return max(1, math.ceil(math.log2(n) + 1)) if n > 0 else 1


def numerical_bins(
    reference: FloatArray,
    reference_counts: IntArray,
    production: FloatArray,
    production_counts: IntArray,
) -> Bins:
    """Sturges bins over ``[min(min b, min p), max(max b, max p)]``.

    ``k = ceil(log2(n_small) + 1)`` with ``n_small`` the non-null count of the smaller side;
    edges ``e_i = lo + i * (hi - lo) / k`` with ``e_k = hi`` exactly, so the maximum always
    lands in the last bin. A constant feature (``lo == hi == v``) gets the single bin
    ``[v - d, v + d]``, ``d = 0.005`` if ``v == 0`` else ``|v| * 0.005``. Both sides need at
    least one value."""
    n_small = int(min(reference_counts.sum(), production_counts.sum()))
    lo = float(min(reference.min(), production.min()))
    hi = float(max(reference.max(), production.max()))
    if lo == hi:
        delta = 0.005 if lo == 0 else abs(lo) * 0.005
        edges = np.array([lo - delta, hi + delta])
    else:
        k = sturges_bin_count(n_small)
        edges = lo + np.arange(k + 1, dtype=np.float64) * ((hi - lo) / k)
        edges[-1] = hi
    return Bins(
        edges,
        _bin_counts(edges, reference, reference_counts),
        _bin_counts(edges, production, production_counts),
    )


def _bin_counts(edges: FloatArray, values: FloatArray, counts: IntArray) -> IntArray:
    k = len(edges) - 1
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, k - 1)
    return np.bincount(index, weights=counts, minlength=k).astype(np.int64)


def categories(reference: Mapping[str, int], production: Mapping[str, int]) -> Categories:
    """Both sides' counts over the union of categories (a category absent on a side: 0)."""
    names = list(reference) + [name for name in production if name not in reference]
    return Categories(
        names,
        np.array([reference.get(n, 0) for n in names], dtype=np.int64),
        np.array([production.get(n, 0) for n in names], dtype=np.int64),
    )


def _frequencies(counts: IntArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def jensen_shannon_distance(reference: IntArray, production: IntArray) -> float:
    """The Jensen-Shannon distance with log base 2 between the two relative-frequency vectors
    (over the same bins or categories): ``sqrt(JSD)``, range 0..1.

    ``JSD = (KL(P || M) + KL(Q || M)) / 2`` with ``M = (P + Q) / 2`` — as
    ``scipy.spatial.distance.jensenshannon(P, Q, base=2)``."""
    _scipy_stats()
    from scipy.spatial.distance import jensenshannon

    value = float(jensenshannon(_frequencies(reference), _frequencies(production), base=2))
    return 0.0 if math.isnan(value) else value


def population_stability_index(reference: IntArray, production: IntArray) -> float:
    """``PSI = sum((p_i - q_i) * ln(p_i / q_i))`` with one added to every count:
    ``p_i = (cp_i + 1) / (n_p + k)``, ``q_i = (cb_i + 1) / (n_b + k)``, k bins or categories."""
    k = len(reference)
    p = (production + 1) / (production.sum() + k)
    q = (reference + 1) / (reference.sum() + k)
    return float(np.sum((p - q) * np.log(p / q)))


def chebyshev_distance(reference: IntArray, production: IntArray) -> float:
    """``max_i |P_i - Q_i|`` between the two relative-frequency vectors (same bins or
    categories); range 0..1."""
    if len(reference) == 0:
        return 0.0
    return float(np.max(np.abs(_frequencies(production) - _frequencies(reference))))


def _weighted_std(values: FloatArray, counts: IntArray) -> float:
    n = counts.sum()
    if n < 2:
        return 0.0
    mean = float(np.sum(values * counts) / n)
    return math.sqrt(float(np.sum(counts * (values - mean) ** 2)) / (n - 1))


def normalized_wasserstein_distance(
    reference: FloatArray,
    reference_counts: IntArray,
    production: FloatArray,
    production_counts: IntArray,
) -> float:
    """``wasserstein_distance(b, p) / max(std(b, ddof=1), 0.001)`` on the raw values, as
    ``scipy.stats.wasserstein_distance`` gives it: the area between the two empirical CDFs,
    ``sum_i |F_b(x_i) - F_p(x_i)| * (x_{i+1} - x_i)`` over the union of the sorted distinct
    values (exactly the raw values' distance). A reference of one value has standard deviation
    0 here (so 0.001 divides).

    Computed from the counts' cumulative sums rather than by scipy's weighted path, which
    sorts and searches the values again: a third of the monitor's time on 1M-row sides
    (bench/monitor.py); the two agree to 1e-15 (tests/monitor/metrics/test_drift.py)."""
    grid = np.union1d(reference, production)
    cdf1 = _cdf_on(grid, reference, reference_counts, int(reference_counts.sum()))
    cdf2 = _cdf_on(grid, production, production_counts, int(production_counts.sum()))
    distance = float(np.sum(np.abs(cdf1[:-1] - cdf2[:-1]) * np.diff(grid)))
    return distance / max(_weighted_std(reference, reference_counts), 0.001)


def two_sample_kolmogorov_smirnov_test(
    reference: FloatArray,
    reference_counts: IntArray,
    production: FloatArray,
    production_counts: IntArray,
) -> float:
    """The p-value of ``scipy.stats.ks_2samp(b, p)`` (two-sided, method ``auto``), at any size.

    Up to ``KS_EXACT_MAX_N`` values on the larger side, ``ks_2samp`` is called on the values
    themselves (its exact p-value); beyond, the statistic ``D = max |F_b(x) - F_p(x)|`` comes
    from the counts and the p-value from Smirnov's asymptotic distribution
    ``kstwo.sf(D, round(n*m / (n+m)))``, as ``ks_2samp`` does for large samples."""
    stats = _scipy_stats()
    n1, n2 = int(reference_counts.sum()), int(production_counts.sum())
    if max(n1, n2) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(
            np.repeat(reference, reference_counts), np.repeat(production, production_counts)
        )
        return float(result.pvalue)
    grid = np.union1d(reference, production)
    cdf1 = _cdf_on(grid, reference, reference_counts, n1)
    cdf2 = _cdf_on(grid, production, production_counts, n2)
    d = float(np.max(np.abs(cdf1 - cdf2)))
    m, n = sorted((float(n1), float(n2)), reverse=True)
    probability = float(stats.kstwo.sf(d, np.round(m * n / (m + n))))
    return min(max(probability, 0.0), 1.0)


def _cdf_on(grid: FloatArray, values: FloatArray, counts: IntArray, total: int) -> FloatArray:
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    return cumulative[np.searchsorted(values, grid, side="right")] / total


def pearsons_chi_squared_test(reference: IntArray, production: IntArray) -> float:
    """The p-value of Pearson's chi-squared test of the production counts against the
    reference frequencies: ``expected_c = (cb_c / n_b) * n_p``,
    ``X2 = sum((o_c - e_c)^2 / e_c)``, ``p = chi2.sf(X2, k - 1)`` — as
    ``scipy.stats.chisquare(observed, expected)``.

    A category seen only in production makes ``X2`` infinite and the p-value 0 (a breach, as
    intended); identical sides (one category included) give 1.0."""
    stats = _scipy_stats()
    n_b, n_p = reference.sum(), production.sum()
    expected = reference / n_b * n_p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(
            expected > 0, (production - expected) ** 2 / np.where(expected > 0, expected, 1), 0.0
        )
    if np.any((expected == 0) & (production > 0)):
        return 0.0
    statistic = float(terms.sum())
    if statistic == 0.0 or len(reference) < 2:
        return 1.0
    return float(stats.chi2.sf(statistic, len(reference) - 1))


_HISTOGRAM_METRICS: dict[str, Callable[[IntArray, IntArray], float]] = {
    "jensen_shannon_distance": jensen_shannon_distance,
    "population_stability_index": population_stability_index,
    "chebyshev_distance": chebyshev_distance,
}
"""The metrics computed the same way from numerical bins and from category counts."""


def numerical_metric(
    metric: str,
    bins: Bins,
    reference: FloatArray,
    reference_counts: IntArray,
    production: FloatArray,
    production_counts: IntArray,
) -> float:
    """A numerical feature's drift metric by its YAML name."""
    histogram_metric = _HISTOGRAM_METRICS.get(metric)
    if histogram_metric is not None:
        return histogram_metric(bins.reference, bins.production)
    if metric == "normalized_wasserstein_distance":
        return normalized_wasserstein_distance(
            reference, reference_counts, production, production_counts
        )
    if metric == "two_sample_kolmogorov_smirnov_test":
        return two_sample_kolmogorov_smirnov_test(
            reference, reference_counts, production, production_counts
        )
    raise ValueError(f"{metric!r} is not a numerical drift metric")


def categorical_metric(metric: str, cats: Categories) -> float:
    """A categorical feature's drift metric by its YAML name."""
    histogram_metric = _HISTOGRAM_METRICS.get(metric)
    if histogram_metric is not None:
        return histogram_metric(cats.reference, cats.production)
    if metric == "pearsons_chi_squared_test":
        return pearsons_chi_squared_test(cats.reference, cats.production)
    raise ValueError(f"{metric!r} is not a categorical drift metric")
