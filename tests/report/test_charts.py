"""Server-drawn SVG charts: well-formed, accessible, one group per series, gaps and thresholds."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from modeltap.report.charts import Series, bar_chart, data_table, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    """The chart's root element (fails on malformed XML)."""
    return ET.fromstring(svg)


def _series(root: ET.Element) -> list[ET.Element]:
    """The ``<g class="series">`` elements."""
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]


def test_bar_chart_draws_one_group_per_series_and_one_bar_per_value() -> None:
    """Two series over three categories: two groups of three bars, with title and desc."""
    svg = bar_chart(
        "city <shares>",
        ["paris", "lyon", "nice"],
        [Series("reference", [0.5, 0.3, 0.2]), Series("production", [0.1, 0.1, 0.8])],
    )
    root = _parse(svg)
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "city <shares>"
    assert root.find(f"{SVG}desc") is not None
    groups = _series(root)
    assert [g.get("data-series") for g in groups] == ["reference", "production"]
    assert [len(g.findall(f"{SVG}rect")) for g in groups] == [3, 3]
    heights = [float(r.get("height", "0")) for r in groups[1].findall(f"{SVG}rect")]
    assert heights[2] > heights[0] * 7  # 0.8 against 0.1


def test_bar_chart_skips_missing_values() -> None:
    """A None or NaN value draws no bar."""
    root = _parse(bar_chart("t", ["a", "b", "c"], [Series("s", [1.0, None, math.nan])]))
    assert len(_series(root)[0].findall(f"{SVG}rect")) == 1


def test_line_chart_threshold_gaps_and_breached_points() -> None:
    """A dashed threshold line; a gap splits the line; breached points are red."""
    root = _parse(
        line_chart(
            "income psi",
            ["r1", "r2", "r3", "r4", "r5"],
            [Series("psi", [0.01, 0.02, None, 0.05, 0.3])],
            threshold=0.1,
            breached=[False, False, False, False, True],
        )
    )
    threshold = [e for e in root.iter(f"{SVG}line") if e.get("class") == "threshold"]
    assert len(threshold) == 1 and threshold[0].get("data-threshold") == "0.1"
    (group,) = _series(root)
    assert len(group.findall(f"{SVG}polyline")) == 2
    fills = [c.get("fill") for c in group.findall(f"{SVG}circle")]
    assert len(fills) == 4 and fills[-1] == "#d62728" and fills[0] != "#d62728"


def test_line_chart_of_one_point_and_no_threshold() -> None:
    """A single run draws one point and no threshold line."""
    root = _parse(line_chart("one", ["r1"], [Series("v", [0.4])]))
    assert not [e for e in root.iter(f"{SVG}line") if e.get("class") == "threshold"]
    assert len(_series(root)[0].findall(f"{SVG}circle")) == 1


def test_charts_get_distinct_ids_for_distinct_content() -> None:
    """Two different charts on one page do not share the ids their aria-labelledby names."""
    first = _parse(bar_chart("a", ["x"], [Series("s", [1.0])]))
    second = _parse(bar_chart("b", ["x"], [Series("s", [1.0])]))
    assert first.get("aria-labelledby") != second.get("aria-labelledby")


def test_data_table_is_a_closed_details_with_escaped_cells() -> None:
    """Headers, one row per entry with its first cell as row header, all text escaped."""
    html = data_table("a <b>", ("bin", "rows"), [("<1", "3"), ("1-2", "4 & more")])
    root = ET.fromstring(html)
    assert root.tag == "details" and root.get("open") is None
    assert root.findtext("summary") == "numbers"
    table = root.find("div/table")
    assert table is not None and table.findtext("caption") == "a <b>"
    assert [th.text for th in table.iter("th")][:2] == ["bin", "rows"]
    rows = [[cell.text for cell in tr] for tr in table.iter("tr")][1:]
    assert rows == [["<1", "3"], ["1-2", "4 & more"]]
    assert [tr[0].tag for tr in table.iter("tr")][1:] == ["th", "th"]
