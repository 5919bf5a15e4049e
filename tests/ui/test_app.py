"""The web UI in process: every page answers from the store, 404s name what is missing, the key
is required when set, and nothing but GET is served."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

import modeltap
from modeltap.catalog import DataAsset
from modeltap.ui.app import create_app
from tests.report.sample_store import (
    FIRST,
    MONITOR,
    collect_sample_asset,
    signal_section,
    write_sample_store,
    write_synthetic_runs,
)

ROOT = Path(__file__).resolve().parents[2]

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(destination, asset name): three monitor runs and one collected asset."""
    destination = write_sample_store(tmp_path_factory.mktemp("sample"))
    yield destination, collect_sample_asset(destination)


@pytest.fixture
def client(store: tuple[str, str]) -> TestClient:
    """A client of the UI without a key."""
    return TestClient(create_app(store[0]))


def test_every_page_answers(client: TestClient, store: tuple[str, str]) -> None:
    """Assets, one asset, its volume chart, monitors, one monitor, one run and its report."""
    asset = store[1]
    pages = {
        "/assets": asset,
        f"/assets/{asset}/1": "Last rows",
        f"/assets/{asset}/1/volume.svg": 'class="series"',
        "/monitors": MONITOR,
        f"/monitors/{MONITOR}": "Signals over time",
        f"/monitors/{MONITOR}/runs/20240508T130000Z": "Download this run",
        f"/monitors/{MONITOR}/runs/20240508T130000Z/report.html": "monitor report",
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert expected in response.text, url
    assert client.get("/", follow_redirects=False).headers["location"] == "/assets"


def test_asset_page_counts_and_shows_the_newest_rows(
    client: TestClient, store: tuple[str, str]
) -> None:
    """Six rows collected: six in the volume, the newest folder's rows listed, newest first."""
    text = client.get(f"/assets/{store[1]}/1").text
    assert "6 rows from" in text
    assert text.count("<td>paris</td>") == 2
    assert text.index("<td>31</td>") < text.index("<td>30</td>")


def test_run_page_shows_schema_changes(client: TestClient) -> None:
    """The last run's page lists drift's added and retyped columns and quality's missing one."""
    text = client.get(f"/monitors/{MONITOR}/runs/20240508T130000Z").text
    drift = signal_section(text, "drift")
    assert "<li>added: channel</li>" in drift
    assert "<li>retyped: age (double -&gt; int64)</li>" in drift
    assert "<li>missing: score</li>" in signal_section(text, "quality")


def test_page_charts_have_their_numbers(client: TestClient, store: tuple[str, str]) -> None:
    """The asset's rows per hour and the monitor's breached metrics per run are also tables."""
    asset = client.get(f"/assets/{store[1]}/1").text
    volume = asset[asset.index('<figure class="volume">') : asset.index("</figure>")]
    cells = re.findall(r"<tr><th>([^<]+)</th><td>(\d+)</td></tr>", volume)
    assert len(cells) == 24 and sum(int(rows) for _, rows in cells) == 6
    monitor = client.get(f"/monitors/{MONITOR}").text
    signals = monitor[monitor.index('<figure class="signals-chart">') :]
    signals = signals[: signals.index("</figure>")]
    assert '<th scope="col">drift</th>' in signals
    rows = re.findall(r"<tr><th>(2024-05-08 1\d:00)</th>((?:<td>\d+</td>){3})</tr>", signals)
    assert [when[-5:] for when, _ in rows] == ["11:00", "12:00", "13:00"]
    drift = [re.findall(r"\d+", cells)[0] for _, cells in rows]
    assert drift == ["0", "0", "1"]  # income drifts in the last run only


def test_window_picker_bad_times_are_explained(client: TestClient, store: tuple[str, str]) -> None:
    """A bad time, a reversed window and a too-long window each say what is wrong."""
    url = f"/assets/{store[1]}/1"
    assert "is not a time" in client.get(url, params={"start": "yesterday"}).text
    reversed_window = {"start": "2024-05-02T00:00", "end": "2024-05-01T00:00"}
    assert "start must come before end" in client.get(url, params=reversed_window).text
    long_window = {"start": "2023-01-01T00:00", "end": "2024-05-01T00:00"}
    assert "limited to 31 days" in client.get(url, params=long_window).text


def test_row_counts_are_read_once(store: tuple[str, str]) -> None:
    """A page shown again opens no data file to count rows."""
    app = create_app(store[0])
    client = TestClient(app)
    client.get(f"/assets/{store[1]}/1")
    pages = next(r.endpoint.__self__ for r in app.routes if getattr(r, "path", "") == "/assets")
    first = pages.volume.files_read
    assert first > 0
    client.get(f"/assets/{store[1]}/1")
    client.get(f"/assets/{store[1]}/1/volume.svg")
    assert pages.volume.files_read == first


def test_missing_things_are_404_with_a_reason(client: TestClient) -> None:
    """Unknown asset, monitor or run: 404 and a message naming it."""
    assert client.get("/assets/nope/1").status_code == 404
    response = client.get("/monitors/nope")
    assert response.status_code == 404 and "no runs of monitor" in response.text
    response = client.get(f"/monitors/{MONITOR}/runs/20300101T000000Z")
    assert response.status_code == 404 and "latest runs" in response.text


def test_only_reads(client: TestClient) -> None:
    """Writes are not routes: POST, PUT and DELETE answer 405."""
    for method in ("POST", "PUT", "DELETE"):
        assert client.request(method, "/assets").status_code == 405


def test_key_is_required_when_set(store: tuple[str, str]) -> None:
    """No key or a wrong one: 401 asking for Basic; Bearer or the Basic password: 200."""
    client = TestClient(create_app(store[0], auth_key=KEY))
    response = client.get("/monitors")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert client.get("/monitors", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/monitors", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    basic = base64.b64encode(f"me:{KEY}".encode()).decode()
    assert client.get("/monitors", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = base64.b64encode(b"me:nope").decode()
    assert client.get("/monitors", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.get("/monitors", headers={"Authorization": "Basic !!"}).status_code == 401
    assert client.get("/healthz").status_code == 200


def test_empty_store(tmp_path: Path) -> None:
    """A store with nothing yet says so on both lists."""
    client = TestClient(create_app(str(tmp_path)))
    assert "No data asset is registered" in client.get("/assets").text
    assert "No monitor has results" in client.get("/monitors").text


def test_unreadable_results_answer_500_with_the_reason(tmp_path: Path) -> None:
    """A corrupt run.json: the page says which run cannot be read."""
    run = tmp_path / "_monitoring" / "broken" / "runs" / "20240508T130000Z"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{not json")
    client = TestClient(create_app(str(tmp_path)), raise_server_exceptions=False)
    response = client.get("/monitors")
    assert response.status_code == 500
    assert "cannot read run 20240508T130000Z of broken" in response.text


def _hour_file(folder: Path, name: str, rows: int) -> None:
    """A Parquet data file of ``rows`` events in the hour ``FIRST``."""
    folder.mkdir(parents=True, exist_ok=True)
    times = [FIRST + dt.timedelta(minutes=i) for i in range(rows)]
    table = pa.table(
        {
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "correlationid": [f"{name}-{i}" for i in range(rows)],
            "id": [f"{name}-{i}" for i in range(rows)],
            "row_index": [0] * rows,
            "x": list(range(rows)),
        }
    )
    pq.write_table(table, folder / f"{name}.parquet")


def test_a_change_in_the_store_shows_on_the_next_request(tmp_path: Path) -> None:
    """Pages already shown (their reads cached) show a new run and a new data file at once."""
    destination = str(tmp_path / "store")
    write_synthetic_runs(destination, runs=2, features=2)
    hour = tmp_path / "data" / f"{FIRST:%Y/%m/%d/%H}"
    _hour_file(hour, "w-1", 3)
    last = f"{FIRST:%Y-%m-%dT%H}:59:00.000Z"
    asset = DataAsset("a", "1", str(tmp_path / "data"), format="parquet", last_event_time=last)
    modeltap.register_asset(asset, destination=destination)
    client = TestClient(create_app(destination))
    assert "<td class=\"num\">2</td>" in client.get("/monitors").text
    assert "20240508T130000Z" not in client.get("/monitors/monitor-000").text
    assert "3 rows from" in client.get("/assets/a/1").text
    assert "3 rows from" in client.get("/assets/a/1/volume.svg").text

    write_synthetic_runs(destination, runs=1, features=2, start=FIRST + dt.timedelta(hours=2))
    _hour_file(hour, "w-2", 4)
    monitors = client.get("/monitors").text
    assert "<td class=\"num\">3</td>" in monitors and "20240508T130000Z" in monitors
    assert "/monitors/monitor-000/runs/20240508T130000Z" in client.get("/monitors/monitor-000").text
    assert client.get("/monitors/monitor-000/runs/20240508T130000Z").status_code == 200
    assert "7 rows from" in client.get("/assets/a/1").text
    assert "7 rows from" in client.get("/assets/a/1/volume.svg").text


def test_the_first_visit_imports_and_compiles_nothing(store: tuple[str, str]) -> None:
    """After create_app, the first visit of every page (in a fresh interpreter) imports no
    module and compiles no template: start-up did it."""
    destination, asset = store
    paths = [
        "/assets",
        f"/assets/{asset}/1/volume.svg",
        f"/assets/{asset}/1",
        "/monitors",
        f"/monitors/{MONITOR}",
        f"/monitors/{MONITOR}/runs/20240508T130000Z",
        f"/monitors/{MONITOR}/runs/20240508T130000Z/report.html",
    ]
    script = textwrap.dedent(
        f"""
        import json, sys
        from starlette.requests import Request
        from starlette.routing import Match
        from modeltap.report.templating import environment
        from modeltap.ui.app import create_app

        app = create_app({destination!r})
        modules, templates = set(sys.modules), len(environment().cache)
        found = {{}}
        for path in {paths!r}:
            for route in app.routes:
                scope = {{"type": "http", "path": path, "method": "GET"}}
                match, child = route.matches(scope)
                if match == Match.FULL:
                    scope.update(child, query_string=b"", headers=[])
                    status = route.endpoint(Request(scope)).status_code
                    break
            found[path] = [status, sorted(set(sys.modules) - modules)]
            modules = set(sys.modules)
        print(json.dumps({{"pages": found, "compiled": len(environment().cache) - templates}}))
        """
    )
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["compiled"] == 0
    assert result["pages"] == {path: [200, []] for path in paths}
