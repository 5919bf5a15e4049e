"""The ``feature_attribution_drift`` signal: importances learned on each side, compared by
NDCG, each feature's two importances recorded."""

from __future__ import annotations

from modeltap.errors import MonitorError
from modeltap.monitor.attribution.learning import Learner, SideData
from modeltap.monitor.attribution.selection import selected_features
from modeltap.monitor.definition import NDCG, FeatureAttributionDriftSignal
from modeltap.monitor.feature_types import SchemaChanges
from modeltap.monitor.metrics.attribution import normalized_discounted_cumulative_gain
from modeltap.monitor.signals import SignalResult
from modeltap.monitor.source import ENVELOPE_COLUMNS

__all__ = ["attribution_signal"]


def attribution_signal(
    name: str,
    signal: FeatureAttributionDriftSignal,
    learner: Learner,
    reference: SideData,
    production: SideData,
) -> SignalResult:
    """NDCG between the reference's and production's feature importances (a breach below the
    threshold), and rows ``reference_feature_importance`` / ``production_feature_importance``
    for each selected feature."""
    result = SignalResult(
        name,
        "feature_attribution_drift",
        production_rows=production.side.rows,
        reference_rows=reference.side.rows,
    )
    target = learner.target
    reference_columns = [c for c in reference.side.schema if c not in ENVELOPE_COLUMNS]
    production_columns = [c for c in production.side.schema if c not in ENVELOPE_COLUMNS]
    result.add_row_count()
    if production.side.rows == 0 or reference.side.rows == 0:
        result.schema_changes = SchemaChanges.of_columns(reference_columns, production_columns, [])
        result.status = "no_data"
        return result
    if not production.has_column(target):
        raise MonitorError(
            f"{production.label} has no target column {target!r} "
            "(reference_data.data_column_names.target_column): production data needs it too, "
            "e.g. joined ground truth or the model's own prediction"
        )
    reference_importances = learner.reference(reference)
    features = [
        f for f in selected_features(signal.features, reference_importances.values) if f != target
    ]
    changes = SchemaChanges.of_columns(reference_columns, production_columns, features)
    result.schema_changes = changes
    learned = [f for f in features if f in reference_importances.values]
    for feature in features:
        if feature not in reference_importances.values:
            changes.unmonitored.append(
                {"feature": feature, "reason": "not in the reference, or of a type not learned"}
            )
    trainable = [
        f for f in reference_importances.values if f in production.side.schema and f != target
    ]
    production_importances = learner.learn(production, trainable).values
    reference_values = [reference_importances.values[f] for f in learned]
    # a feature production lacks (or cannot use) has no importance there
    production_values = [production_importances.get(f, 0.0) for f in learned]
    ndcg = normalized_discounted_cumulative_gain(reference_values, production_values)
    result.add("", "", NDCG, ndcg, signal.thresholds()[NDCG])
    for feature, ref, prod in zip(learned, reference_values, production_values, strict=True):
        data_type = reference_importances.data_types.get(feature, "")
        result.add(feature, data_type, "reference_feature_importance", ref, None)
        result.add(feature, data_type, "production_feature_importance", prod, None)
    return result.finish()
