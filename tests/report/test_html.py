"""The HTML report file: self-contained, small, breaches shown, written by MonitorRun.to_html."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import modeltap.monitor
from modeltap.errors import MissingDependencyError, MonitorError
from modeltap.report import templating, write_report, write_run_report
from tests.report.sample_store import (
    FIRST,
    MONITOR,
    sample_definition,
    signal_section,
    write_sample_store,
    write_synthetic_runs,
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the sample data and its store (``store``)."""
    folder = tmp_path_factory.mktemp("sample")
    write_sample_store(folder)
    return folder


def test_report_is_self_contained(sample: Path, tmp_path: Path) -> None:
    """No script, no external URL in any attribute, a CSP that forbids fetching."""
    path = write_report(MONITOR, tmp_path / "r.html", destination=str(sample / "store"))
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)=["'](https?:)?//""", text)
    assert "default-src 'none'" in text
    assert text.count("<svg") >= 9


def test_every_chart_has_its_numbers(sample: Path, tmp_path: Path) -> None:
    """Each chart's figure holds a closed details with the chart's numbers as a table."""
    text = write_report(MONITOR, tmp_path / "r.html", destination=str(sample / "store")).read_text()
    figures = re.findall(r"<figure[^>]*>.*?</figure>", text, flags=re.S)
    charts = [f for f in figures if "<svg" in f]
    assert len(charts) == text.count("<svg") >= 9
    assert all('<details class="chart-data"><summary>numbers</summary>' in f for f in charts)
    assert all(f.index("</svg>") < f.index("<table>") for f in charts)


def test_report_shows_the_breach(sample: Path, tmp_path: Path) -> None:
    """The breached feature is marked breached, its row highlighted, the alert message shown."""
    text = write_report(MONITOR, tmp_path / "r.html", destination=str(sample / "store")).read_text()
    assert 'data-feature="income" data-breached="true"' in text
    assert 'data-feature="age" data-breached="false"' in text
    assert '<tr class="breached">' in text
    assert "has failed due to one or more features violating metric thresholds" in text
    assert "120 of 200 production rows labelled (60.0%)" in text


def test_report_shows_schema_changes(sample: Path, tmp_path: Path) -> None:
    """The last run's new column, retyped feature and the reference-only feature are listed in
    the cards of the signals they changed; an earlier run shows only the missing feature."""
    store = str(sample / "store")
    text = write_report(MONITOR, tmp_path / "r.html", destination=store).read_text()
    drift = signal_section(text, "drift")
    assert "<li>added: channel</li>" in drift
    assert "<li>retyped: age (double -&gt; int64)</li>" in drift
    assert "missing:" not in drift
    quality = signal_section(text, "quality")
    assert "<li>missing: score</li>" in quality and "<li>added: channel</li>" in quality
    assert "Schema changes" not in signal_section(text, "performance")
    earlier = write_report(
        MONITOR, tmp_path / "e.html", run="20240508T120000Z", destination=store
    ).read_text()
    assert "Schema changes" not in signal_section(earlier, "drift")
    assert "<li>missing: score</li>" in signal_section(earlier, "quality")


def test_to_html_writes_the_run_just_made(sample: Path, tmp_path: Path) -> None:
    """MonitorRun.to_html writes that run's report, not the latest one."""
    at = FIRST + dt.timedelta(hours=1)
    result = modeltap.monitor.run(
        sample_definition(sample), at=at, destination=str(tmp_path / "store")
    )
    path = result.to_html(tmp_path / "first.html")
    assert "run ending 2024-05-08T11:00:00Z" in path.read_text(encoding="utf-8")


def test_twenty_feature_report_stays_under_two_megabytes(tmp_path: Path) -> None:
    """Twenty features, three signals, thirty runs of history: well under 2 MB."""
    destination = tmp_path / "store"
    write_synthetic_runs(str(destination), monitors=1, runs=30, features=20)
    path = write_report("monitor-000", tmp_path / "r.html", destination=str(destination))
    size = path.stat().st_size
    assert size < 2_000_000, size
    assert path.read_text(encoding="utf-8").count('class="feature ') == 40


def test_bad_run_folder_is_named() -> None:
    """A folder that is not a run of a results store is refused by name."""
    with pytest.raises(MonitorError, match="not a monitor run folder"):
        write_run_report("/tmp/somewhere", "x.html")


def test_missing_jinja2_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without jinja2 the error says which extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "jinja2", None)
    templating.environment.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r'pip install "modeltap\[ui\]"'):
            templating.environment()
    finally:
        templating.environment.cache_clear()


def test_unwritable_output_is_a_clear_error(sample: Path, tmp_path: Path) -> None:
    """A report that cannot be written names the path."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MonitorError, match="cannot write the report"):
        write_report(MONITOR, blocker / "r.html", destination=str(sample / "store"))


def test_failed_signal_shows_its_error(sample: Path, tmp_path: Path) -> None:
    """A signal whose data cannot be read is a failed card with the error, the others stand."""
    definition = sample_definition(sample)
    drift = definition["create_monitor"]["monitoring_signals"]["drift"]
    drift["production_data"] = {
        **drift["production_data"],
        "input_data": {"path": str(tmp_path / "missing.parquet")},
    }
    result = modeltap.monitor.run(
        definition, at=FIRST + dt.timedelta(hours=1), destination=str(tmp_path / "store")
    )
    assert result.signals["drift"]["status"] == "failed"
    text = result.to_html(tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'data-signal="drift" data-status="failed"' in text
    assert '<p class="message" role="alert">failed: ' in text
    assert 'data-signal="quality" data-status="breached"' in text
