"""Charts as inline SVG, drawn on the server: bars (distributions, volumes) and lines (metric
history with its threshold).

No JavaScript and no network: each chart is a few kilobytes of SVG with a ``<title>`` and a
``<desc>`` for screen readers, a ``<title>`` on every bar and point (the browser shows it on
hover), and one ``<g class="series">`` per series (``data-series`` holds its name) so a test or a
stylesheet can find them. Colours are attributes, so a chart also reads on its own (as an image).
:func:`data_table` gives a chart's numbers as a plain HTML table folded under it (a
``<details>`` element: opens without JavaScript).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Series", "bar_chart", "data_table", "line_chart"]

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948")
"""Series colours in order (colour-blind safe Tableau 10 hues)."""
_BREACH = "#d62728"
_THRESHOLD = "#d62728"
_AXIS = "#666666"
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 8, 8, 34


@dataclass(frozen=True)
class Series:
    """One named series; ``None`` or NaN values are gaps."""

    name: str
    values: Sequence[float | None]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _number(value: float) -> str:
    """A value as a short label: ``0.0123``, ``1.2e+06``, ``42``."""
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def _ident(*parts: object) -> str:
    digest = hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()
    return f"chart-{digest[:10]}"


def _frame(ident: str, title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" aria-labelledby="{ident}-t {ident}-d" '
        f'font-family="system-ui, sans-serif" font-size="11">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )
    return head + "".join(body) + "</svg>"


def _scale(values: Sequence[float], floor_zero: bool = True) -> tuple[float, float]:
    """The y range covering ``values`` (from 0 unless a value is negative), never empty."""
    finite = [v for v in values if math.isfinite(v)]
    low = min(finite, default=0.0)
    high = max(finite, default=1.0)
    if floor_zero:
        low = min(low, 0.0)
        high = max(high, 0.0)
    if high == low:
        high = low + (abs(low) or 1.0)
    return low, high + (high - low) * 0.05


def _axes(width: int, height: int, low: float, high: float, legend: Sequence[str]) -> list[str]:
    """The y axis with three labelled ticks, the x baseline and a legend under the plot."""
    plot_bottom = height - _BOTTOM
    out = [
        f'<g class="axis" stroke="{_AXIS}" stroke-width="1">'
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{plot_bottom}"/>'
        f'<line x1="{_LEFT}" y1="{plot_bottom}" x2="{width - _RIGHT}" y2="{plot_bottom}"/></g>'
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = low + (high - low) * fraction
        y = plot_bottom - (plot_bottom - _TOP) * fraction
        out.append(
            f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{_AXIS}">'
            f"{escape(_number(value))}</text>"
        )
    x = _LEFT
    for index, name in enumerate(legend):
        colour = PALETTE[index % len(PALETTE)]
        out.append(
            f'<g class="legend"><rect x="{x}" y="{height - 12}" width="10" height="10" '
            f'fill="{colour}"/><text x="{x + 14}" y="{height - 3}">{escape(name)}</text></g>'
        )
        x += 20 + 7 * len(name)
    return out


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    desc: str = "",
    width: int = 420,
    height: int = 180,
    labels: Sequence[str] | None = None,
) -> str:
    """Grouped bars: one group per category, one bar per series. ``labels`` are the x labels
    (default: the categories); one every ~72 px is written, the others stay in the tooltips."""
    values = [float(v) for s in series for v in s.values if v is not None and _finite(v)]
    low, high = _scale(values)
    plot_width = width - _LEFT - _RIGHT
    plot_height = height - _TOP - _BOTTOM
    groups = max(len(categories), 1)
    slot = plot_width / groups
    bar = max(slot * 0.8 / max(len(series), 1), 0.5)

    def y_of(value: float) -> float:
        return _TOP + plot_height * (1 - (value - low) / (high - low))

    body = _axes(width, height, low, high, [s.name for s in series])
    zero = y_of(0.0)
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        bars = []
        for position, (category, value) in enumerate(zip(categories, one.values, strict=False)):
            if not _finite(value):
                continue
            assert value is not None
            x = _LEFT + slot * position + slot * 0.1 + bar * index
            top = min(y_of(value), zero)
            size = abs(y_of(value) - zero)
            bars.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{size:.1f}">'
                f"<title>{escape(one.name)}, {escape(category)}: {escape(_number(value))}"
                "</title></rect>"
            )
        body.append(
            f'<g class="series" data-series="{escape(one.name)}" fill="{colour}">'
            + "".join(bars)
            + "</g>"
        )
    shown = list(labels if labels is not None else categories)
    step = max(1, math.ceil(len(shown) / max(2, plot_width // 72)))  # labels ~72 px apart
    for position in range(0, len(shown), step):
        x = _LEFT + slot * (position + 0.5)
        body.append(
            f'<text class="x-label" x="{x:.1f}" y="{height - _BOTTOM + 12}" text-anchor="middle" '
            f'fill="{_AXIS}">{escape(shown[position][:12])}</text>'
        )
    desc = desc or f"{len(series)} series over {len(categories)} categories"
    return _frame(_ident(title, categories, series), title, desc, width, height, body)


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    threshold: float | None = None,
    breached: Sequence[bool] | None = None,
    desc: str = "",
    width: int = 420,
    height: int = 160,
) -> str:
    """Lines over ordered points (e.g. runs), gaps at missing values, with a dashed threshold
    line when ``threshold`` is given; points of the first series flagged in ``breached`` are
    drawn red. The first and last x labels are written."""
    values = [float(v) for s in series for v in s.values if v is not None and _finite(v)]
    if threshold is not None and math.isfinite(threshold):
        values.append(threshold)
    low, high = _scale(values)
    plot_width = width - _LEFT - _RIGHT
    plot_height = height - _TOP - _BOTTOM
    count = max(len(x_labels), 1)

    def x_of(position: int) -> float:
        if count == 1:
            return _LEFT + plot_width / 2
        return _LEFT + plot_width * position / (count - 1)

    def y_of(value: float) -> float:
        return _TOP + plot_height * (1 - (value - low) / (high - low))

    body = _axes(width, height, low, high, [s.name for s in series])
    if threshold is not None and math.isfinite(threshold):
        y = y_of(threshold)
        body.append(
            f'<line class="threshold" data-threshold="{threshold!r}" x1="{_LEFT}" y1="{y:.1f}" '
            f'x2="{width - _RIGHT}" y2="{y:.1f}" stroke="{_THRESHOLD}" stroke-dasharray="4 3">'
            f"<title>threshold {escape(_number(threshold))}</title></line>"
        )
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        segments: list[list[str]] = [[]]
        points = []
        for position, value in enumerate(one.values):
            if not _finite(value):
                segments.append([])
                continue
            assert value is not None
            x, y = x_of(position), y_of(value)
            segments[-1].append(f"{x:.1f},{y:.1f}")
            bad = index == 0 and breached is not None and position < len(breached)
            fill = _BREACH if bad and breached is not None and breached[position] else colour
            label = x_labels[position] if position < len(x_labels) else str(position)
            points.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{fill}">'
                f"<title>{escape(label)}: {escape(_number(value))}</title></circle>"
            )
        paths = "".join(
            f'<polyline points="{" ".join(s)}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            for s in segments
            if len(s) > 1
        )
        body.append(
            f'<g class="series" data-series="{escape(one.name)}">{paths}{"".join(points)}</g>'
        )
    for position in sorted({0, len(x_labels) - 1}):
        if 0 <= position < len(x_labels):
            anchor = "start" if position == 0 else "end"
            x = x_of(position) if count > 1 else _LEFT + plot_width / 2
            body.append(
                f'<text class="x-label" x="{x:.1f}" y="{height - _BOTTOM + 12}" '
                f'text-anchor="{anchor}" fill="{_AXIS}">{escape(x_labels[position])}</text>'
            )
    desc = desc or f"{len(series)} series over {len(x_labels)} points" + (
        f", threshold {_number(threshold)}" if threshold is not None else ""
    )
    ident = _ident(title, x_labels, series, threshold)
    return _frame(ident, title, desc, width, height, body)


def data_table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A chart's numbers as a table inside a closed ``<details>`` (summary: ``numbers``): the
    first cell of each row is its header (a bin, a category, a run), the others are values,
    given already formatted. Everything is escaped."""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join(
        f"<tr><th>{escape(row[0])}</th>"  # short tags: a report holds a hundred such tables
        + "".join(f"<td>{escape(cell)}</td>" for cell in row[1:])
        + "</tr>"
        for row in rows
    )
    return (
        '<details class="chart-data"><summary>numbers</summary><div class="table-wrap"><table>'
        f"<caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div></details>"
    )
