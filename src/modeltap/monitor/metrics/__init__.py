"""The monitor's metrics: pure functions over aggregates (counts, sorted distinct values), so
every engine that computes the same aggregates gets the same numbers."""
