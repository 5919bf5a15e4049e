"""NDCG between importance rankings, against scikit-learn, and top-N selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from modeltap.monitor.metrics.attribution import (
    normalized_discounted_cumulative_gain,
    top_features,
)


@pytest.mark.parametrize(
    ("reference", "production"),
    [
        ([4.0, 2.0, 1.0, 0.1], [4.0, 2.0, 1.0, 0.1]),
        ([4.0, 2.0, 1.0, 0.1], [0.1, 2.0, 4.0, 1.0]),
        ([0.5, 0.5, 0.2], [0.3, 0.3, 0.3]),  # ties are averaged, as sklearn does
        ([3.0, 0.0, 1.0], [0.0, 5.0, 0.2]),
    ],
)
def test_ndcg_matches_sklearn(reference: list[float], production: list[float]) -> None:
    """The value is sklearn's ndcg_score with the reference as gains."""
    expected = ndcg_score(np.asarray([reference]), np.asarray([production]))
    assert normalized_discounted_cumulative_gain(reference, production) == pytest.approx(expected)


def test_swapped_ranking_is_below_the_platform_threshold() -> None:
    """Reversing the order of four clearly ranked features gives an NDCG under 0.9."""
    value = normalized_discounted_cumulative_gain([4, 2, 1, 0.1], [0.1, 1, 2, 4])
    assert value < 0.9


def test_ndcg_edge_cases() -> None:
    """One feature ranks the same: 1.0; a reference that learned nothing: NaN; sizes differ:
    an error."""
    assert normalized_discounted_cumulative_gain([2.0], [0.0]) == 1.0
    assert math.isnan(normalized_discounted_cumulative_gain([0.0, 0.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="same order"):
        normalized_discounted_cumulative_gain([1.0, 2.0], [1.0])


def test_top_features_orders_by_importance_then_name() -> None:
    """The N largest, most important first; ties by name."""
    importances = {"c": 1.0, "a": 3.0, "b": 1.0, "d": 0.5}
    assert top_features(importances, 3) == ["a", "b", "c"]
    assert top_features(importances, 10) == ["a", "b", "c", "d"]
