"""Which features a signal covers when they are chosen by importance
(``features: {top_n_feature_importance: N}``), or listed, or all of them."""

from __future__ import annotations

from typing import Any

from modeltap.monitor.definition import TopNFeatures
from modeltap.monitor.metrics.attribution import top_features

__all__ = ["selected_features"]


def selected_features(features: Any, importances: dict[str, float]) -> list[str]:
    """The features of ``features`` (``all_features``, a list, or top-N) given the reference
    importances: all of them in the reference's order, the list as given, or the N most
    important (most important first)."""
    if isinstance(features, TopNFeatures):
        return top_features(importances, features.top_n_feature_importance)
    if features == "all_features":
        return list(importances)
    return list(features)
