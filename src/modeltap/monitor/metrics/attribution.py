"""Feature attribution drift: how far production's feature-importance ranking moved from the
reference's, as pure functions over the importances."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["normalized_discounted_cumulative_gain", "top_features"]


def normalized_discounted_cumulative_gain(
    reference: Sequence[float], production: Sequence[float]
) -> float:
    """``sklearn.metrics.ndcg_score([reference], [production])``: the reference importances are
    the gains, production's importances give the ranking (features in the same order on both
    sides; ties averaged). 1.0 is the same ranking.

    One feature cannot be ranked differently: 1.0. All reference importances zero (the
    reference surrogate learned nothing, e.g. a constant target): NaN, which never breaches."""
    if len(reference) != len(production):
        raise ValueError(
            f"{len(reference)} reference and {len(production)} production importances: give "
            "one of each per feature, in the same order"
        )
    gains = np.asarray(reference, dtype=np.float64)
    scores = np.asarray(production, dtype=np.float64)
    if len(gains) == 0 or not np.any(gains > 0):
        return math.nan
    if len(gains) == 1:
        return 1.0
    from sklearn.metrics import ndcg_score

    return float(ndcg_score(gains[np.newaxis, :], scores[np.newaxis, :]))


def top_features(importances: Mapping[str, float], n: int) -> list[str]:
    """The ``n`` most important features, most important first (ties by name)."""
    order = sorted(importances.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in order[:n]]
