"""Drift metrics from value counts agree with scipy on the raw values, edge cases included."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest
import scipy.stats
from scipy.spatial.distance import jensenshannon

from modeltap.monitor.metrics import drift

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]


def _vc(raw: list[float] | Floats) -> tuple[Floats, Counts]:
    """Sorted distinct values and their counts."""
    values, counts = np.unique(np.asarray(raw, dtype=np.float64), return_counts=True)
    return values, counts.astype(np.int64)


def _platform_bins(b: Floats, p: Floats) -> tuple[Counts, Counts]:
    """The platform's binning written plainly on raw values, with the last edge at the max."""
    k = math.ceil(math.log2(min(len(b), len(p))) + 1)
    lo, hi = min(b.min(), p.min()), max(b.max(), p.max())
    edges = np.linspace(lo, hi, k + 1)
    cb, _ = np.histogram(b, edges)
    cp, _ = np.histogram(p, edges)
    return cb, cp


RNG = np.random.default_rng(7)
REFERENCE = np.round(RNG.normal(0, 1, 300), 2)
PRODUCTION = np.round(RNG.normal(0.4, 1.3, 200), 2)


def test_bins_match_numpy_histogram() -> None:
    """Sturges bins over the combined range equal numpy.histogram's (last bin closed)."""
    bins = drift.numerical_bins(*_vc(REFERENCE), *_vc(PRODUCTION))
    cb, cp = _platform_bins(REFERENCE, PRODUCTION)
    assert len(bins.edges) == math.ceil(math.log2(200) + 1) + 1
    assert bins.reference.tolist() == cb.tolist()
    assert bins.production.tolist() == cp.tolist()
    assert bins.reference.sum() == 300 and bins.production.sum() == 200
    assert bins.edges[-1] == max(REFERENCE.max(), PRODUCTION.max())


def test_maximum_lands_in_last_bin() -> None:
    """The max is in the last bin even where lo + k * width rounds below it."""
    b = np.array([0.1, 0.2, 0.7])
    p = np.array([0.3, 0.7, 0.7])
    bins = drift.numerical_bins(*_vc(b), *_vc(p))
    assert bins.production[-1] == 2
    assert bins.reference.sum() == 3 and bins.production.sum() == 3


def test_jensen_shannon_against_scipy() -> None:
    """Numerical JS distance = scipy jensenshannon(base 2) over the bins' frequencies."""
    bins = drift.numerical_bins(*_vc(REFERENCE), *_vc(PRODUCTION))
    cb, cp = _platform_bins(REFERENCE, PRODUCTION)
    expected = jensenshannon(cb / cb.sum(), cp / cp.sum(), base=2)
    assert drift.jensen_shannon_distance(bins.reference, bins.production) == pytest.approx(
        expected, abs=1e-12
    )


def test_psi_by_hand() -> None:
    """PSI with one added to every count, natural log."""
    cb = np.array([10, 20, 30], dtype=np.int64)
    cp = np.array([30, 20, 0], dtype=np.int64)
    p = (cp + 1) / (50 + 3)
    q = (cb + 1) / (60 + 3)
    expected = float(np.sum((p - q) * np.log(p / q)))
    assert drift.population_stability_index(cb, cp) == pytest.approx(expected, abs=1e-15)
    assert drift.population_stability_index(cb, cb) == 0.0


def test_chebyshev_by_hand() -> None:
    """Chebyshev: the largest absolute difference of relative frequencies."""
    cb = np.array([50, 50, 0], dtype=np.int64)
    cp = np.array([20, 60, 20], dtype=np.int64)
    assert drift.chebyshev_distance(cb, cp) == pytest.approx(0.3)
    assert drift.chebyshev_distance(cb, cb) == 0.0


def test_wasserstein_against_scipy() -> None:
    """Normalized Wasserstein = scipy's distance on raw values / std(b, ddof=1)."""
    expected = scipy.stats.wasserstein_distance(REFERENCE, PRODUCTION) / np.std(REFERENCE, ddof=1)
    value = drift.normalized_wasserstein_distance(*_vc(REFERENCE), *_vc(PRODUCTION))
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("size", [2, 1_000, 200_000])
def test_wasserstein_against_scipy_at_any_size(size: int) -> None:
    """The Wasserstein distance from cumulative counts equals scipy's on the raw values, with
    ties, values seen on one side only and sides of different sizes."""
    rng = np.random.default_rng(size)
    b = np.round(rng.normal(0, 1, size), 3)
    p = np.concatenate([np.round(rng.exponential(2, size // 2 + 1), 1), [-50.0, 40.0]])
    expected = scipy.stats.wasserstein_distance(b, p) / max(np.std(b, ddof=1), 0.001)
    value = drift.normalized_wasserstein_distance(*_vc(b), *_vc(p))
    assert abs(value - expected) <= 1e-9 * max(1.0, expected)


@pytest.mark.parametrize("size", [50, 9_000, 30_000])
def test_ks_against_scipy_at_any_size(size: int) -> None:
    """The KS p-value equals scipy's ks_2samp, exact and asymptotic, with ties."""
    rng = np.random.default_rng(size)
    b = np.round(rng.normal(0, 1, size), 2)
    p = np.round(rng.normal(0.03, 1, size + 7), 2)
    expected = scipy.stats.ks_2samp(b, p).pvalue
    value = drift.two_sample_kolmogorov_smirnov_test(*_vc(b), *_vc(p))
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_categorical_against_scipy() -> None:
    """Categorical JS, PSI and chi-squared over the union of categories."""
    b = Counter({"a": 50, "b": 30, "c": 20})
    p = Counter({"a": 20, "b": 30, "c": 50})
    cats = drift.categories(b, p)
    assert cats.names == ["a", "b", "c"]
    js = jensenshannon(cats.reference / 100, cats.production / 100, base=2)
    assert drift.jensen_shannon_distance(cats.reference, cats.production) == pytest.approx(js)
    expected = scipy.stats.chisquare([20, 30, 50], [0.5 * 100, 0.3 * 100, 0.2 * 100]).pvalue
    assert drift.pearsons_chi_squared_test(cats.reference, cats.production) == pytest.approx(
        expected, rel=1e-12
    )


def test_category_only_in_production() -> None:
    """A category seen only in production: chi-squared p-value 0 (a breach), JS well defined."""
    cats = drift.categories({"a": 10, "b": 10}, {"a": 10, "b": 5, "new": 5})
    assert cats.names == ["a", "b", "new"]
    assert cats.reference.tolist() == [10, 10, 0]
    assert drift.pearsons_chi_squared_test(cats.reference, cats.production) == 0.0
    js = drift.jensen_shannon_distance(cats.reference, cats.production)
    expected = jensenshannon([0.5, 0.5, 0], [0.5, 0.25, 0.25], base=2)
    assert js == pytest.approx(expected)


def test_identical_single_category() -> None:
    """Both sides one and the same category: p-value 1.0, distances 0."""
    cats = drift.categories({"x": 5}, {"x": 9})
    assert drift.pearsons_chi_squared_test(cats.reference, cats.production) == 1.0
    assert drift.jensen_shannon_distance(cats.reference, cats.production) == 0.0
    assert drift.chebyshev_distance(cats.reference, cats.production) == 0.0


@pytest.mark.parametrize("value", [0.0, 7.0, -3.5])
def test_constant_column(value: float) -> None:
    """A constant feature (int or float, zero or not) on both sides: one bin, no drift."""
    b = _vc([value] * 40)
    p = _vc([value] * 25)
    bins = drift.numerical_bins(*b, *p)
    delta = 0.005 if value == 0 else abs(value) * 0.005
    assert bins.edges.tolist() == [value - delta, value + delta]
    assert bins.reference.tolist() == [40] and bins.production.tolist() == [25]
    assert drift.jensen_shannon_distance(bins.reference, bins.production) == 0.0
    assert drift.population_stability_index(bins.reference, bins.production) == 0.0
    assert drift.normalized_wasserstein_distance(*b, *p) == 0.0
    assert drift.two_sample_kolmogorov_smirnov_test(*b, *p) == 1.0


def test_one_value_in_reference_others_in_production() -> None:
    """Reference of one value, production spread: finite, large distances; std floor 0.001."""
    b = _vc([5.0] * 30)
    p = _vc([5.0, 6.0, 7.0] * 10)
    bins = drift.numerical_bins(*b, *p)
    assert bins.reference.sum() == 30 and bins.production.sum() == 30
    js = drift.jensen_shannon_distance(bins.reference, bins.production)
    assert 0 < js <= 1
    expected = scipy.stats.wasserstein_distance([5.0] * 30, [5.0, 6.0, 7.0] * 10) / 0.001
    assert drift.normalized_wasserstein_distance(*b, *p) == pytest.approx(expected)
    pvalue = drift.two_sample_kolmogorov_smirnov_test(*b, *p)
    assert pvalue == pytest.approx(scipy.stats.ks_2samp([5.0] * 30, [5.0, 6.0, 7.0] * 10).pvalue)


def test_sturges() -> None:
    """k = ceil(log2(n) + 1)."""
    assert [drift.sturges_bin_count(n) for n in (1, 2, 3, 8, 1000)] == [1, 2, 3, 4, 11]


def test_missing_scipy_has_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without scipy the statistics raise MissingDependencyError naming the extra."""
    import sys

    from modeltap.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'modeltap\[monitor\]'"):
        drift.pearsons_chi_squared_test(np.array([1, 2]), np.array([2, 1]))
