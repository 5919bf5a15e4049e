"""In a real browser (Debian's headless chromium through Playwright): ``modeltap ui`` started on
loopback as a real server, and a generated report opened from disk.

Every page loads with no console error and no failed request, each chart is drawn with its
series, the breached feature is shown breached, navigation works, the key is required, pages fit
a phone-width window, and the report makes no request at all. Screenshots of the main pages go to
``test-output/screenshots/`` (git-ignored), listed at the end of the test session.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modeltap.report import write_report
from tests.report.sample_store import MONITOR, collect_sample_asset, write_sample_store

pytestmark = pytest.mark.integration

SRC = Path(__file__).resolve().parents[2] / "src"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "browser-test-key"
LAST_RUN = "20240508T130000Z"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class UiServer:
    """A running ``modeltap ui``."""

    url: str
    destination: str
    asset: str


@dataclass
class Visit:
    """What a page did while loading: its status, console errors and failed requests."""

    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium (skipped, with the reason, when Debian's chromium is absent)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def _stderr_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """``modeltap ui`` on loopback (any free port) over a store with monitor runs and one
    collected asset, with a key."""
    folder = tmp_path_factory.mktemp("ui")
    destination = write_sample_store(folder)
    asset = collect_sample_asset(destination)
    key_file = folder / "key"
    key_file.write_text(KEY + "\n")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(SRC.parent)]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modeltap.cli",
            "ui",
            "-d",
            destination,
            "--port",
            "0",
            "--auth-key-file",
            str(key_file),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_stderr_lines, args=(process.stderr, lines), daemon=True).start()
    url = None
    try:
        while url is None:
            line = lines.get(timeout=60)
            found = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
            url = found.group(1) if found else None
        request = urllib.request.Request(f"{url}/healthz")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        yield UiServer(url, destination, asset)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page of a context that sends the key."""
    context = browser.new_context(
        viewport=DESKTOP, extra_http_headers={"Authorization": f"Bearer {KEY}"}
    )
    yield context.new_page()
    context.close()


def visit(page: Any, url: str) -> Visit:
    """Load ``url`` and wait until the network is idle, recording what went wrong."""
    seen = Visit()
    page.on(
        "console",
        lambda message: (
            seen.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("requestfailed", lambda request: seen.failed.append(request.url))
    page.on(
        "response",
        lambda response: (
            seen.failed.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    response = page.goto(url, wait_until="networkidle")
    seen.status = response.status if response is not None else None
    return seen


def _series(page: Any, selector: str) -> list[int]:
    """The number of ``g.series`` in each SVG chart matched by ``selector``."""
    counts: list[int] = page.eval_on_selector_all(
        selector, "charts => charts.map(c => c.querySelectorAll('g.series').length)"
    )
    return counts


def test_every_page_loads_clean(
    page: Any, ui_server: UiServer, screenshot: Callable[[Any, str], Path]
) -> None:
    """Each page: 200, no console error, no failed request; screenshots at 1280 px and at
    phone width, where nothing overflows the window sideways."""
    pages = {
        "assets": "/assets",
        "asset": f"/assets/{ui_server.asset}/1",
        "monitors": "/monitors",
        "monitor": f"/monitors/{MONITOR}",
        "run": f"/monitors/{MONITOR}/runs/{LAST_RUN}",
        "report": f"/monitors/{MONITOR}/runs/{LAST_RUN}/report.html",
    }
    for name, path in pages.items():
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            seen = visit(page, ui_server.url + path)
            assert seen.status == 200, path
            assert seen.console_errors == [], (path, seen.console_errors)
            assert seen.failed == [], (path, seen.failed)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, label, overflow)
            assert screenshot(page, f"{name}-{label}").stat().st_size > 0


def test_charts_are_drawn_with_their_series(page: Any, ui_server: UiServer) -> None:
    """Distributions: reference and production; histories: one line and its threshold; the
    monitor's signals chart: one line per signal; volumes: one series."""
    visit(page, f"{ui_server.url}/monitors/{MONITOR}/runs/{LAST_RUN}")
    distributions = _series(page, "figure.distribution svg.chart")
    assert distributions == [2, 2, 2]  # age, income, city of the drift signal
    histories = _series(page, "figure.history svg.chart")
    assert len(histories) == 3 + 9 and set(histories) == {1}
    thresholds = page.eval_on_selector_all(
        "figure.history svg.chart", "cs => cs.map(c => c.querySelectorAll('line.threshold').length)"
    )
    assert set(thresholds) == {1}
    visit(page, f"{ui_server.url}/monitors/{MONITOR}")
    assert _series(page, "figure.signals-chart svg.chart") == [3]
    visit(page, f"{ui_server.url}/assets/{ui_server.asset}/1")
    assert _series(page, "figure.volume svg.chart") == [1]
    visit(page, f"{ui_server.url}/assets")
    loaded = page.eval_on_selector_all(
        "img.volume", "images => images.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded == [True]
    svg = page.request.get(f"{ui_server.url}/assets/{ui_server.asset}/1/volume.svg").text()
    assert svg.count('class="series"') == 1


def test_chart_numbers_open_without_javascript(browser: Any, ui_server: UiServer) -> None:
    """With JavaScript off, a distribution's folded numbers table is hidden until its summary
    is clicked, then shows one row per bin."""
    context = browser.new_context(
        viewport=DESKTOP,
        java_script_enabled=False,
        extra_http_headers={"Authorization": f"Bearer {KEY}"},
    )
    try:
        page = context.new_page()
        visit(page, f"{ui_server.url}/monitors/{MONITOR}/runs/{LAST_RUN}")
        figure = page.locator('#signal-drift .feature[data-feature="city"] figure.distribution')
        table = figure.locator("details.chart-data table")
        assert not table.is_visible()
        figure.locator("details.chart-data summary").click()
        assert table.is_visible()
        cells = table.locator("tbody th").all_inner_texts()
        assert sorted(cells) == ["lyon", "nice", "paris"]
    finally:
        context.close()


def test_breached_feature_is_shown_breached(page: Any, ui_server: UiServer) -> None:
    """In the run page, drift's ``income`` is first, marked and coloured breached; ``age`` not."""
    visit(page, f"{ui_server.url}/monitors/{MONITOR}/runs/{LAST_RUN}")
    drift = page.locator("#signal-drift")
    features = drift.locator(".feature").evaluate_all("fs => fs.map(f => f.dataset.feature)")
    assert features[0] == "income"
    income = drift.locator('.feature[data-feature="income"]')
    assert income.get_attribute("data-breached") == "true"
    assert "BREACHED" in income.locator("tr.breached").inner_text()
    colour = income.locator("h4").evaluate("h => getComputedStyle(h).color")
    assert colour == "rgb(198, 40, 40)"
    age = drift.locator('.feature[data-feature="age"]')
    assert age.get_attribute("data-breached") == "false"
    assert age.locator("tr.breached").count() == 0
    card = page.locator('.signal-card[data-signal="drift"]')
    assert card.get_attribute("data-status") == "breached"


def test_navigation(page: Any, ui_server: UiServer) -> None:
    """From the asset list to an asset and its window picker; from the monitors to a monitor,
    its latest run and the run's report."""
    visit(page, f"{ui_server.url}/assets")
    page.get_by_role("link", name=ui_server.asset).click()
    page.wait_for_url(f"**/assets/{ui_server.asset}/1")
    page.fill('input[name="start"]', "2024-05-08T10:00")
    page.fill('input[name="end"]', "2024-05-08T14:00")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**start=2024-05-08T10%3A00**")
    assert "0 rows from 2024-05-08T10:00" in page.locator("figure.volume").inner_text()
    page.get_by_role("navigation", name="main").get_by_role("link", name="Monitors").click()
    page.wait_for_url("**/monitors")
    page.get_by_role("link", name=MONITOR, exact=True).click()
    page.wait_for_url(f"**/monitors/{MONITOR}")
    page.get_by_role("link", name="2024-05-08T13:00:00Z").first.click()
    page.wait_for_url(f"**/runs/{LAST_RUN}")
    href = page.get_by_role("link", name="Download this run's HTML report").get_attribute("href")
    assert href is not None
    report = page.request.get(ui_server.url + href)
    assert report.status == 200 and "<script" not in report.text()


def test_a_missing_key_is_refused(browser: Any, ui_server: UiServer) -> None:
    """Without the key every page answers 401; the key as the Basic password opens them."""
    context = browser.new_context()
    try:
        # chromium answers a Basic challenge it has no credentials for with this error
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):
            context.new_page().goto(f"{ui_server.url}/monitors")
        for path in ("/assets", f"/monitors/{MONITOR}", f"/assets/{ui_server.asset}/1/volume.svg"):
            response = context.request.get(ui_server.url + path)
            assert response.status == 401, path
            assert MONITOR not in response.text() and ui_server.asset not in response.text()
    finally:
        context.close()
    context = browser.new_context(http_credentials={"username": "me", "password": KEY})
    try:
        response = context.new_page().goto(f"{ui_server.url}/monitors")
        assert response is not None and response.status == 200
    finally:
        context.close()


def test_report_makes_no_request(
    browser: Any, ui_server: UiServer, tmp_path: Path, screenshot: Callable[[Any, str], Path]
) -> None:
    """Opened from disk with the network cut, the report loads nothing but itself, logs no
    error, draws its charts, and stays small."""
    path = write_report(MONITOR, tmp_path / "report.html", destination=ui_server.destination)
    assert path.stat().st_size < 2_000_000
    context = browser.new_context(viewport=DESKTOP, offline=True)
    try:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        seen = visit(page, path.as_uri())
        assert requests == [path.as_uri()]
        assert seen.console_errors == [] and seen.failed == []
        assert _series(page, "figure.distribution svg.chart") == [2, 2, 2]
        assert page.locator('.feature[data-breached="true"]').count() >= 1
        assert screenshot(page, "report-offline").stat().st_size > 0
    finally:
        context.close()
