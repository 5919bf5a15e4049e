"""What a run's report shows, built from the results store (aggregates only, never raw rows).

:func:`run_content` reads one run's ``run.json``, ``metrics.parquet`` and ``histograms.parquet``
and the metrics of the runs before it, and returns a :class:`RunContent`: one card per signal,
its features sorted so that what needs attention comes first (breached, then closest to a
threshold), each with its metrics, its distribution chart and its metric history charts.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd

from modeltap.errors import MonitorError
from modeltap.monitor.metrics.names import LOWER_IS_WORSE
from modeltap.monitor.results import ResultsStore
from modeltap.report.charts import Series, bar_chart, data_table, line_chart
from modeltap.report.templating import format_number, format_percent

__all__ = [
    "FeatureView",
    "MetricView",
    "RunContent",
    "SignalView",
    "margin",
    "pick_run",
    "run_content",
    "stamp_label",
    "stamp_time",
]

HISTORY_RUNS = 30
"""How many runs (this one and those before it) the history charts show."""


def margin(metric: str, value: float | None, threshold: float | None) -> float:
    """How far ``value`` is past ``threshold`` in the breaching direction, relative to their
    size: positive when breached, 0 at the threshold, down to -1 when far from it; -inf when
    there is no value or no threshold."""
    if value is None or threshold is None or math.isnan(value) or math.isnan(threshold):
        return -math.inf
    past = threshold - value if metric in LOWER_IS_WORSE else value - threshold
    return past / max(abs(threshold), abs(value), 1e-12)


@dataclass
class MetricView:
    """One metric of a feature (or of the signal, ``feature == ""``) in this run."""

    metric: str
    value: float | None
    threshold: float | None
    breached: bool
    baseline: float | None
    direction: str
    history_chart: str = ""
    history_table: str = ""
    """The history's numbers: each run's value, threshold and breach (HTML)."""

    @property
    def margin(self) -> float:
        """See :func:`margin`."""
        return margin(self.metric, self.value, self.threshold)


@dataclass
class FeatureView:
    """A feature of a signal: its metrics, distributions and history."""

    name: str
    data_type: str
    metrics: list[MetricView]
    distribution_chart: str = ""
    distribution_table: str = ""
    """The distributions' numbers: rows and share per bin or category on each side (HTML)."""

    @property
    def breached(self) -> bool:
        """Whether any of its metrics breached."""
        return any(m.breached for m in self.metrics)

    @property
    def attention(self) -> tuple[int, float]:
        """Sort key, larger first: breached, then the largest margin."""
        return (int(self.breached), max((m.margin for m in self.metrics), default=-math.inf))


@dataclass
class SignalView:
    """One signal's card."""

    name: str
    type: str
    status: str
    production_rows: int
    reference_rows: int
    window_start: str | None
    window_end: str | None
    reference_window_start: str | None
    reference_window_end: str | None
    message: str | None
    error: str | None
    schema_changes: dict[str, list[str]]
    features: list[FeatureView] = field(default_factory=list)
    signal_metrics: list[MetricView] = field(default_factory=list)
    no_data_features: list[str] = field(default_factory=list)

    @property
    def labelled_rows(self) -> int | None:
        """Model performance: how many production rows found a label."""
        for metric in self.signal_metrics:
            if metric.metric == "labelled_row_count" and metric.value is not None:
                return int(metric.value)
        return None

    @property
    def label_coverage(self) -> float | None:
        """Labelled rows / production rows (model performance only)."""
        labelled = self.labelled_rows
        if labelled is None or not self.production_rows:
            return None
        return labelled / self.production_rows

    @property
    def breached_features(self) -> list[str]:
        """The features with a breached metric, in attention order."""
        return [f.name for f in self.features if f.breached]


@dataclass
class RunContent:
    """Everything a run's report shows."""

    monitor: str
    stamp: str
    info: dict[str, Any]
    signals: list[SignalView]
    history_stamps: list[str]
    breached_per_run: dict[str, list[int]] = field(default_factory=dict)
    """Per signal, how many metrics breached in each run of ``history_stamps``."""

    @property
    def breached(self) -> bool:
        """Whether any threshold was breached."""
        return bool(self.info.get("breached"))

    @property
    def status(self) -> str:
        """``succeeded`` or ``failed``."""
        return str(self.info.get("status", ""))


def pick_run(
    store: ResultsStore,
    monitor: str,
    run: str | None = None,
    *,
    stamps: Sequence[str] | None = None,
) -> str:
    """The stamp of run ``run`` (a window end: ``20240508T130000Z`` or ISO 8601) of
    ``monitor``, or its latest run when ``run`` is None; MonitorError naming the runs there are.
    ``stamps``: the monitor's runs when the caller has listed them already."""
    stamps = list(store.runs(monitor) if stamps is None else stamps)
    if not stamps:
        known = store.monitors()
        hint = f"; monitors with results: {', '.join(known)}" if known else ""
        raise MonitorError(f"no runs of monitor {monitor!r} in {store.url}{hint}")
    if run is None:
        return stamps[-1]
    wanted = run
    if wanted not in stamps:
        try:
            moment = pd.Timestamp(run)
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.tz_localize("UTC")
            wanted = moment.tz_convert("UTC").strftime("%Y%m%dT%H%M%SZ")
    if wanted not in stamps:
        recent = ", ".join(stamps[-5:])
        raise MonitorError(
            f"monitor {monitor!r} has no run with window end {run!r}; its latest runs: {recent}"
        )
    return wanted


def _number(value: float | None) -> float | None:
    """A metric value from Arrow: null and NaN are no value."""
    return None if value is None or math.isnan(value) else value


def stamp_label(stamp: str) -> str:
    """``20240508T130000Z`` -> ``05-08 13:00``."""
    return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"


def stamp_time(stamp: str) -> str:
    """``20240508T130000Z`` -> ``2024-05-08 13:00``."""
    return f"{stamp[0:4]}-{stamp_label(stamp)}"


class _Row(NamedTuple):
    """One metric row of a run, as the report uses it."""

    signal: str
    feature: str
    data_type: str
    metric: str
    value: float | None
    threshold: float | None
    breached: bool
    baseline: float | None


_COLUMNS = (
    "signal_name",
    "feature_name",
    "data_type",
    "metric_name",
    "metric_value",
    "threshold_value",
    "breached",
    "baseline_value",
)
_CACHE_RUNS = 5_000
_cache: OrderedDict[tuple[str, str, str, str], list[_Row]] = OrderedDict()
_cache_lock = threading.Lock()


def _run_rows(store: ResultsStore, monitor: str, stamp: str, version: str) -> list[_Row]:
    """A run's metric rows. A run folder only changes when its window is run again, which
    gives it a new ``start_time`` (``version``), so rows are kept by that in a bounded cache:
    the history of a page shown again is not read again."""
    key = (store.url, monitor, stamp, version)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    # Arrow straight to Python lists, without pandas: 30 runs' metrics in 24 ms instead of
    # 60 ms (bench/ui.py's store, 20 features), the bulk of a monitor page's first visit;
    # bench/ui.py, 2026-12-06, 706a1c2 against 5c31335: one monitor's first visit 135 -> 99 ms
    # (140 -> 90 ms of server CPU), one run's 138 -> 96 ms
    table = store.metrics_table(monitor, stamp, _COLUMNS)
    columns = [table.column(c).to_pylist() for c in _COLUMNS]
    rows = [
        _Row(str(s), str(f), str(d), str(m), _number(v), _number(t), bool(b), _number(bl))
        for s, f, d, m, v, t, b, bl in zip(*columns, strict=True)
    ]
    with _cache_lock:
        _cache[key] = rows
        while len(_cache) > _CACHE_RUNS:
            _cache.popitem(last=False)
    return rows


_History = dict[tuple[str, str, str], dict[str, _Row]]
"""(signal, feature, metric) -> {stamp: row}."""


def _history(
    history: _History, stamps: Sequence[str], signal: str, feature: str, metric: str
) -> tuple[str, str]:
    """A metric's history over ``stamps``: its chart (line and threshold) and its table."""
    by_stamp = history.get((signal, feature, metric), {})
    found = [by_stamp.get(s) for s in stamps]
    values = [row.value if row is not None else None for row in found]
    flags = [row.breached if row is not None else False for row in found]
    present = [row for row in found if row is not None]
    threshold = present[-1].threshold if present else None
    what = f"{feature} {metric}" if feature else metric
    title = f"{what} over the last {len(stamps)} runs"
    chart = line_chart(
        title,
        [stamp_label(s) for s in stamps],
        [Series(metric, values)],
        threshold=threshold,
        breached=flags,
    )
    table = data_table(
        title,
        ("run (window end)", metric, "threshold", "breached"),
        (
            (
                stamp_time(stamp),
                "no value" if row is None or row.value is None else format_number(row.value),
                "" if row is None else format_number(row.threshold),
                "BREACHED" if row is not None and row.breached else "",
            )
            for stamp, row in zip(stamps, found, strict=True)
        ),
    )
    return chart, table


class _Bin(NamedTuple):
    """One histogram bin (or category) of a feature in this run."""

    data_type: str
    bin: int
    lower_bound: float
    upper_bound: float
    category: str | None
    reference_count: float
    production_count: float


_BIN_COLUMNS = ("data_type", "bin", "lower_bound", "upper_bound", "category")
_COUNT_COLUMNS = ("reference_count", "production_count")


def _bins(histograms: pd.DataFrame) -> dict[tuple[str, str], list[_Bin]]:
    """A run's histogram rows per (signal, feature), in bin order. Plain lists rather than a
    pandas group per feature: a 20-feature run's distribution charts in 6 ms instead of 33 ms
    (profile of a report page). bench/ui.py, 2026-12-06, 9c5297c against 706a1c2: one
    monitor's first visit 99 -> 63 ms (90 -> 70 ms of server CPU), the report's 123 -> 85."""
    if histograms.empty:
        return {}
    keys = zip(histograms["signal_name"].tolist(), histograms["feature_name"].tolist(), strict=True)
    values = [histograms[c].tolist() for c in _BIN_COLUMNS]
    counts = [histograms[c].astype(float).tolist() for c in _COUNT_COLUMNS]
    found: dict[tuple[str, str], list[_Bin]] = {}
    for (signal, feature), *fields in zip(keys, *values, *counts, strict=True):
        found.setdefault((str(signal), str(feature)), []).append(_Bin(*fields))
    for rows in found.values():
        rows.sort(key=lambda one: one.bin)
    return found


def _shares(counts: list[float]) -> tuple[list[float], float]:
    """Counts as shares of their (NaN-skipping) total, and that total."""
    total = math.fsum(c for c in counts if not math.isnan(c))
    return ([c / total for c in counts] if total else counts), total


def _distribution(rows: list[_Bin], feature: str) -> tuple[str, str]:
    """A feature's reference and production distributions: their chart (shares) and their
    table (rows and shares)."""
    # relative frequencies: the two windows rarely have the same number of rows
    ref_share, reference = _shares([b.reference_count for b in rows])
    prod_share, production = _shares([b.production_count for b in rows])
    categorical = all(b.data_type == "categorical" for b in rows)
    if categorical:
        categories = [str(b.category) for b in rows]
        labels = categories
    else:
        categories = [f"[{b.lower_bound:.4g}, {b.upper_bound:.4g})" for b in rows]
        labels = [f"{b.lower_bound:.3g}" for b in rows]
    title = f"{feature}: reference and production distributions (share of rows)"
    chart = bar_chart(
        title,
        categories,
        [Series("reference", ref_share), Series("production", prod_share)],
        labels=labels,
        desc=f"share of non-null rows per {'category' if categorical else 'bin'}, "
        f"reference ({int(reference)} rows) against production ({int(production)})",
    )
    shares = zip(rows, categories, ref_share, prod_share, strict=True)
    table = data_table(
        title,
        (
            "category" if categorical else "bin",
            "reference rows",
            "reference share",
            "production rows",
            "production share",
        ),
        (
            (
                category,
                format_number(row.reference_count),
                format_percent(ref) if reference else "",
                format_number(row.production_count),
                format_percent(prod) if production else "",
            )
            for row, category, ref, prod in shares
        ),
    )
    return chart, table


def run_content(
    store: ResultsStore,
    monitor: str,
    stamp: str,
    *,
    history_runs: int = HISTORY_RUNS,
    stamps: Sequence[str] | None = None,
) -> RunContent:
    """The report content of run ``stamp`` of ``monitor``, with the history of the
    ``history_runs`` runs up to it (``stamps``: the monitor's runs, if already listed)."""
    info = store.run_info(monitor, stamp)
    stamps = list(store.runs(monitor) if stamps is None else stamps)
    upto = stamps[: stamps.index(stamp) + 1] if stamp in stamps else [stamp]
    window = upto[-history_runs:]
    history: _History = {}
    breached: dict[tuple[str, str], int] = {}
    current: list[_Row] = []

    def read(one: str) -> list[_Row]:
        version = info if one == stamp else store.run_info(monitor, one)
        return _run_rows(store, monitor, one, str(version.get("start_time")))

    # runs not seen yet are read side by side: on an object store each is a request or two,
    # and Parquet decoding releases the GIL (on local disk, a loaded 2-core machine, the gain
    # was within the noise: bench/ui.py's cold "one monitor" page)
    with ThreadPoolExecutor(min(8, len(window)), thread_name_prefix="modeltap-report") as pool:
        per_stamp = list(pool.map(read, window))
    for one, rows in zip(window, per_stamp, strict=True):
        if one == stamp:
            current = rows
        for row in rows:
            history.setdefault((row.signal, row.feature, row.metric), {})[one] = row
            if row.breached:
                breached[(row.signal, one)] = breached.get((row.signal, one), 0) + 1
    try:
        histograms = store.histograms(monitor, stamp)
    except OSError:
        histograms = pd.DataFrame()
    bins = _bins(histograms)
    signals = []
    for name, entry in (info.get("signals") or {}).items():
        signals.append(_signal(name, entry, current, history, bins, window))
    per_run = {s.name: [breached.get((s.name, one), 0) for one in window] for s in signals}
    return RunContent(monitor, stamp, info, signals, window, per_run)


def _describe(item: Any) -> str:
    """A schema change entry as text: ``income (int64 -> double)``, ``tags (reason: list)``."""
    if not isinstance(item, dict):
        return str(item)
    feature = str(item.get("feature", item.get("name", "")))
    if "reference_type" in item:
        return f"{feature} ({item['reference_type']} -> {item.get('production_type')})"
    rest = ", ".join(f"{k}: {v}" for k, v in item.items() if k not in ("feature", "name"))
    return f"{feature} ({rest})" if rest else feature


def _signal(
    name: str,
    entry: dict[str, Any],
    current: list[_Row],
    history: _History,
    bins: dict[tuple[str, str], list[_Bin]],
    stamps: Sequence[str],
) -> SignalView:
    changes = entry.get("schema_changes") or {}
    view = SignalView(
        name=name,
        type=str(entry.get("type", "")),
        status=str(entry.get("status", "")),
        production_rows=int(entry.get("production_row_count") or 0),
        reference_rows=int(entry.get("reference_row_count") or 0),
        window_start=entry.get("window_start"),
        window_end=entry.get("window_end"),
        reference_window_start=entry.get("reference_window_start"),
        reference_window_end=entry.get("reference_window_end"),
        message=entry.get("message"),
        error=entry.get("error"),
        schema_changes={k: [_describe(i) for i in v] for k, v in changes.items() if v},
        no_data_features=list(entry.get("no_data_features") or []),
    )
    features: dict[str, FeatureView] = {}
    for row in current:
        if row.signal != name:
            continue
        metric = MetricView(
            metric=row.metric,
            value=row.value,
            threshold=row.threshold,
            breached=row.breached,
            baseline=row.baseline,
            direction="below" if row.metric in LOWER_IS_WORSE else "above",
        )
        if metric.threshold is not None or metric.metric in LOWER_IS_WORSE:
            metric.history_chart, metric.history_table = _history(
                history, stamps, name, row.feature, row.metric
            )
        if not row.feature:
            view.signal_metrics.append(metric)
            continue
        if row.feature not in features:
            features[row.feature] = FeatureView(row.feature, row.data_type, [])
        features[row.feature].metrics.append(metric)
    for feature in features.values():
        rows = bins.get((name, feature.name))
        if rows:
            feature.distribution_chart, feature.distribution_table = _distribution(
                rows, feature.name
            )
    view.features = sorted(
        features.values(), key=lambda f: (-f.attention[0], -f.attention[1], f.name)
    )
    return view
