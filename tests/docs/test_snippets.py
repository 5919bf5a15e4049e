"""Every fenced code block of the README, the docs and the benchmark pages runs as written.

The runner's parts: ``tests/docs/pages.py`` (the pages, their blocks and commands),
``tests/docs/seed.py`` (what a page's folder holds), ``tests/docs/shell.py`` (running commands).

Each page runs in a temporary folder (its working directory, with ``MODELTAP_DATA_DIR`` pointing
at ``modeltap-data`` inside it), which holds a copy of ``examples/`` (and ``score.py`` beside it),
the files the pages name (``deployment.yaml``; ``monitor.yaml`` and ``credit-monitor.yaml``, the
example monitor; ``churn-monitor.yaml``; ``monitors/`` with both; ``ui.key``) and a tree that
modeltap wrote: ``local-default-model_inputs`` in JSON lines and then in Parquet, with an integer
column that became float and a column added later, ``local-default-model_outputs``, and the
example monitor's ``credit-endpoint-blue-model_inputs`` / ``-model_outputs`` with rows in the
day before now and before 2024-05-08T03:15Z and in the two days before each (its production and
reference windows). A page that names ``s3://bucket/`` gets a moto S3 server on loopback
(``AWS_ENDPOINT_URL``) whose bucket ``bucket`` holds the example monitor's tree under
``modeltap``. Then, in page order:

- ``python`` blocks run in one namespace per page;
- ``yaml`` blocks load through modeltap: a deployment through the configuration loader, a monitor
  definition (a ``create_monitor`` key) through ``modeltap.monitor.load``, a Prometheus rule file
  (a ``groups`` key) must name only metrics that ``modeltap monitor schedule`` exports;
- ``sql`` blocks run in DuckDB and must return rows; ``json`` blocks must parse;
- ``sh`` blocks, command by command (continuations joined, split at ``&&``, ``||``, ``;``, ``|``):

  - ``modeltap data ...`` and ``modeltap monitor run|history|list|report|status`` run in this
    process and must exit 0 (``monitor run`` 0 or 3: 3 means a threshold breached);
  - ``modeltap serve``, ``modeltap ingest``, ``modeltap ui`` and ``modeltap monitor schedule``
    are long-running: each starts as a process of its own on a free loopback port (the
    documented port, given by ``--port`` / ``--metrics-port`` or the command's default, is
    rewritten, and so is ``--host 0.0.0.0``) and must answer (``/ready``, ``/healthz``,
    ``/metrics``); it runs until a later command of the page starts a server on the same
    documented port, or the page ends, and is then stopped with SIGTERM and must exit 0
    (``modeltap ui``: 0, or ended by the SIGTERM that uvicorn raises again, ``STOPPED``). A
    scoring or ingest server must report every event it collected as written, none dropped, and,
    when it answered a request that captures data, have written files;
  - ``curl`` runs against the server started earlier on the page under the URL's documented
    port: the real program, or where it is not installed the same request sent by httpx
    (``curl_request`` translates the options the docs use: ``-s``, ``-i``, ``-H``, ``-d``,
    ``--data-binary``); it must get a 2xx answer, or a 4xx where the output documented after
    it (``# ...`` lines) is an error; documented output that is JSON must equal the answer;
  - ``python SCRIPT ...`` runs the script of the copied ``examples/`` (5 minutes at most);
  - not run, by this allowlist (``NOT_RUN_PROGRAMS`` and ``not_run_reason`` in
    ``tests/docs/pages.py``): ``pip``, ``python3 -m venv`` and ``.`` (installing; the test
    environment is installed), ``make`` (the set-up targets: the whole suite, the demo),
    ``apt-get``, ``git``, ``echo`` (prints a status), and ``python bench/...`` (the benchmarks:
    minutes each at their documented sizes; their results are in ``bench/results/``). Any other
    program fails the test, so a new one has to be classified here. What is not run is checked
    where it names something: ``pip install`` extras, ``make`` targets, benchmark options;
- ``text`` blocks (output, layouts) are not run.

A block preceded by ``<!-- snippet: skip REASON -->`` is not run; one preceded by
``<!-- snippet: parse REASON -->`` has its ``modeltap`` commands parsed by the command line's
parser and nothing run (commands that name a cluster, a model registry or a placeholder); one
preceded by ``<!-- snippet: needs MODULE (REASON) -->`` runs only where MODULE can be imported.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

import modeltap
import modeltap.monitor
from modeltap.cli import build_parser
from modeltap.config import load_settings
from tests.docs import pages
from tests.docs.pages import (
    IN_PROCESS,
    LONG_RUNNING,
    NOT_RUN_LANGUAGES,
    PAGES,
    ROOT,
    RUN,
    Snippet,
    commands,
    documented_commands,
    not_run_reason,
    snippets,
    subcommand,
)
from tests.docs.seed import s3_environment, seed_collected, seed_monitored, write_named_files
from tests.docs.shell import ShellSession, curl_request, environment
from tests.store.servers import MotoS3


def _parse_only(snippet: Snippet) -> None:
    """Parse the ``modeltap`` commands of a shell block (a ``parse`` directive)."""
    for argv in commands(snippet.code):
        if argv[0] != "modeltap":
            continue
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exc:
            raise AssertionError(f"{snippet.where}: {shlex.join(argv)} does not parse") from exc


def _exported_metrics() -> set[str]:
    """The metric names ``modeltap monitor schedule`` serves on /metrics."""
    from modeltap.monitor.schedule.metrics import SchedulerMetrics

    names: set[str] = set()
    for family in SchedulerMetrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def _run_yaml(snippet: Snippet, folder: Path) -> None:
    """Load a YAML block as modeltap would: a deployment, a monitor definition, or a Prometheus
    rule file whose expressions name metrics modeltap exports."""
    document = yaml.safe_load(snippet.code)
    assert isinstance(document, dict), f"{snippet.where}: not a mapping"
    if "groups" in document:
        named = set(re.findall(r"\bmodeltap_\w+", snippet.code))
        assert named, f"{snippet.where}: names no modeltap metric"
        unknown = named - _exported_metrics()
        assert not unknown, f"{snippet.where}: not served by monitor schedule: {sorted(unknown)}"
        return
    if "create_monitor" in document:
        path = folder / "snippet-monitor.yaml"
        path.write_text(snippet.code, encoding="utf-8")
        assert modeltap.monitor.load(path).name == document["name"], snippet.where
        return
    path = folder / "snippet-deployment.yaml"
    path.write_text(snippet.code, encoding="utf-8")
    settings = load_settings(path)
    section = document.get("data_collector", {})
    if "collections" in section:
        assert settings.collector.collections is not None
        assert sorted(settings.collector.collections) == sorted(section["collections"])


def run_page(page: Path, folder: Path, *, optional: bool = False) -> int:
    """Run the blocks of ``page`` in ``folder``: without ``optional`` every block without a
    directive (and the ``parse`` blocks), with it only the ``needs`` blocks whose module is
    installed (these start engines such as Spark). Returns how many blocks ran."""
    namespace: dict[str, object] = {"__name__": "__snippets__"}
    session = ShellSession(folder)
    ran = 0
    try:
        for snippet in snippets(page):
            if snippet.language not in RUN:
                continue
            if snippet.directive is None:
                if optional:
                    continue
            else:
                kind, argument = snippet.directive
                if kind == "parse" and not optional:
                    _parse_only(snippet)
                    continue
                if kind != "needs" or not optional:
                    continue
                if importlib.util.find_spec(argument.split()[0]) is None:
                    continue
            if snippet.language == "python":
                exec(compile(snippet.code, snippet.where, "exec"), namespace)
            elif snippet.language == "yaml":
                _run_yaml(snippet, folder)
            elif snippet.language == "sql":
                rows = duckdb.connect().execute(snippet.code).fetchall()
                assert rows, f"{snippet.where}: the query returned no rows"
            elif snippet.language == "json":
                json.loads(snippet.code)
            elif snippet.language == "sh" and session.run(snippet) == 0:
                continue
            ran += 1
    except BaseException:
        session.close(check=False)  # the block's own failure is the one to report
        raise
    session.close()
    return ran


def _runnable(page: Path) -> bool:
    """Whether the page has a block that runs (a shell block counts if a command of it runs)."""
    return any(
        s.language in RUN - {"sh"}
        or (s.language == "sh" and any(not_run_reason(c) is None for c in commands(s.code)))
        for s in snippets(page)
    )


def _uses_s3(page: Path) -> bool:
    """Whether a shell block of the page names the docs' bucket."""
    return any(s.language == "sh" and "s3://bucket/" in s.code for s in snippets(page))


@pytest.fixture(scope="session")
def docs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on loopback whose bucket ``bucket`` holds the example monitor's tree
    under ``modeltap``; yields its URL."""
    server = MotoS3()
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_environment(server.endpoint_url).items():
            patch.setenv(name, value)
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bucket")
        seed_monitored("s3://bucket/modeltap", tmp_path_factory.mktemp("docs-s3-spool"))
    yield server.endpoint_url
    server.stop()


def _prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's folder: working directory, data dir, the named files, seeded trees."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(tmp_path / "modeltap-data"))
    write_named_files(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "score", raising=False)
    modeltap.configure({})
    seed_collected()
    seed_monitored(str(tmp_path / "modeltap-data"))


@pytest.mark.integration  # starts servers and scripts as processes
@pytest.mark.parametrize(
    "page", [p for p in PAGES if _runnable(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_snippets_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Every runnable block of the page runs, in order, against a seeded tree."""
    if _uses_s3(page):
        endpoint_url = request.getfixturevalue("docs_s3")
        for name, value in s3_environment(endpoint_url).items():
            monkeypatch.setenv(name, value)
    _prepare(tmp_path, monkeypatch)
    try:
        assert run_page(page, tmp_path) > 0
    finally:
        sys.modules.pop("score", None)


_OPTIONAL = [
    (page, snippet.directive[1].split()[0])
    for page in PAGES
    for snippet in snippets(page)
    if snippet.directive is not None and snippet.directive[0] == "needs"
]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("page", "module"), sorted(set(_OPTIONAL)), ids=lambda v: str(v).rsplit("/", 1)[-1]
)
def test_optional_snippets_run(page: Path, module: str, tmp_path: Path) -> None:
    """Blocks that need an optional engine (e.g. Spark) run where it is installed.

    Each page runs in a Python process of its own, started in the page's folder: an engine
    started earlier in this process (Spark's JVM, by tests/compat) keeps the working directory
    it started in and would resolve the snippets' relative paths against it."""
    pytest.importorskip(module)
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "import modeltap\n"
        "from tests.docs.test_snippets import (\n"
        "    seed_collected, seed_monitored, write_named_files, run_page,\n"
        ")\n"
        "write_named_files(Path.cwd())\n"
        "sys.path.insert(0, str(Path.cwd()))\n"
        "modeltap.configure({})\n"
        "seed_collected()\n"
        "seed_monitored(str(Path.cwd() / 'modeltap-data'))\n"
        f"print(run_page(Path({str(page)!r}), Path.cwd(), optional=True))\n"
    )
    variables = {
        **environment(),
        "MODELTAP_DATA_DIR": str(tmp_path / "modeltap-data"),
    }
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, env=variables,
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.strip().splitlines()[-1]) > 0


def test_every_block_has_a_known_language() -> None:
    """A block in a language the runner does not know would silently go unchecked."""
    unknown = [
        f"{s.where} ({s.language or 'no language'})"
        for page in PAGES
        for s in snippets(page)
        if s.language not in RUN | NOT_RUN_LANGUAGES
    ]
    assert not unknown, f"use one of {sorted(RUN | NOT_RUN_LANGUAGES)}: {unknown}"


def test_every_command_is_run_or_listed() -> None:
    """Each command of a shell block is one the runner runs, or on the not-run list: a new
    program, or a ``modeltap`` command the runner has no way to run, fails here first."""
    known = set(IN_PROCESS) | set(LONG_RUNNING)
    unclassified = []
    for page in PAGES:
        for snippet in snippets(page):
            if snippet.language != "sh" or snippet.directive is not None:
                continue
            for argv in commands(snippet.code):
                if not_run_reason(argv) is not None:
                    continue
                runs = (
                    (argv[0] == "modeltap" and subcommand(argv) in known)
                    or argv[0] == "curl"
                    or (argv[0] in ("python", "python3") and (ROOT / argv[1]).is_file())
                )
                if not runs:
                    unclassified.append(f"{snippet.where}: {shlex.join(argv)}")
    assert not unclassified, unclassified


def test_commands_not_run_name_what_exists() -> None:
    """The commands that are not run still name real things: ``pip install`` extras that
    pyproject.toml defines, ``make`` targets of the Makefile, benchmark scripts and their
    ``--options``."""
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"])
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    wrong = []
    checked = 0
    for page in PAGES:
        for snippet in snippets(page):
            if snippet.language != "sh":
                continue
            for argv in commands(snippet.code):
                where = f"{snippet.where}: {shlex.join(argv)}"
                if argv[0] == "pip":
                    for word in argv:
                        match = re.fullmatch(r"(?:modeltap|\.)\[([\w,-]+)\]", word)
                        if match:
                            checked += 1
                            wrong += [f"{where}: no extra {e!r}"
                                      for e in match.group(1).split(",") if e not in extras]
                elif argv[0] == "make":
                    checked += 1
                    wrong += [f"{where}: no target {t!r}" for t in argv[1:] if t not in targets]
                elif argv[0] in ("python", "python3") and argv[1].startswith("bench/"):
                    checked += 1
                    script = ROOT / argv[1]
                    source = script.read_text() if script.is_file() else ""
                    wrong += [f"{where}: {script.name} has no option {o}" for o in argv[2:]
                              if o.startswith("--") and f'"{o}"' not in source]
                    if not source:
                        wrong.append(f"{where}: no such script")
    assert checked > 0
    assert not wrong, wrong


def test_directives_give_a_reason() -> None:
    """A skipped block says why, in one line."""
    for page in PAGES:
        for snippet in snippets(page):
            if snippet.directive is not None:
                kind, argument = snippet.directive
                words = argument.split()
                assert len(words) >= (2 if kind == "needs" else 1), snippet.where


def test_shell_commands_split() -> None:
    """Continuations, comments and command separators are handled as a shell would."""
    script = "modeltap data list  # all\nmodeltap serve \\\n  --port 1 && curl -s x | jq .\n"
    assert commands(script) == [
        ["modeltap", "data", "list"],
        ["modeltap", "serve", "--port", "1"],
        ["curl", "-s", "x"],
        ["jq", "."],
    ]


def test_shell_output_and_ansi_c_strings() -> None:
    """``$'...'`` is decoded as bash does, and ``# ...`` lines after a command are its output."""
    script = "curl -d $'a,b\\n1,2\\n' x  # note\n# {\"ok\": 1}\n\necho done\n"
    assert documented_commands(script) == [
        (["curl", "-d", "a,b\n1,2\n", "x"], '{"ok": 1}'),
        (["echo", "done"], ""),
    ]


def test_curl_commands_translate() -> None:
    """Without curl, a command line becomes the request curl would send."""
    form = curl_request(["-s", "localhost:1/score", "-d", "a=1"], "x")
    assert (form.method, form.url, form.body) == ("POST", "http://localhost:1/score", b"a=1")
    assert form.headers == (("content-type", "application/x-www-form-urlencoded"),)
    csv = curl_request(
        ["-s", "http://127.0.0.1:1/score", "-H", "content-type: text/csv",
         "--data-binary", "a,b\n1,2\n"], "x",
    )
    assert (csv.body, csv.headers) == (b"a,b\n1,2\n", (("content-type", "text/csv"),))
    probe = curl_request(["-s", "-i", "http://127.0.0.1:1/ping"], "x")
    assert (probe.method, probe.body, probe.include_headers) == ("GET", None, True)
    with pytest.raises(AssertionError, match="curl option -X is not translated"):
        curl_request(["-X", "PUT", "http://127.0.0.1:1/"], "x")


def test_a_broken_block_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner reports a block that raises, naming the page and line."""
    page = tmp_path / "broken.md"
    page.write_text("# t\n\n```python\nraise ValueError('boom')\n```\n", encoding="utf-8")
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    with pytest.raises(ValueError, match="boom") as info:
        run_page(page, tmp_path)
    assert any(str(entry.path) == "broken.md:3" for entry in info.traceback)


def test_a_failing_command_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``modeltap`` command that exits 1 fails its block, naming the page, line and command."""
    page = tmp_path / "failing.md"
    page.write_text("```sh\nmodeltap monitor run -f missing.yaml\n```\n", encoding="utf-8")
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match=r"failing.md:1: modeltap monitor run .* with 1"):
        run_page(page, tmp_path)


@pytest.mark.integration  # starts a server process
def test_a_server_that_does_not_start_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A documented server that exits instead of answering fails its block with its output."""
    page = tmp_path / "serve.md"
    page.write_text("```sh\nmodeltap serve --entry-script missing.py\n```\n", encoding="utf-8")
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match=r"serve.md:1: modeltap serve .* exited with \d+ "
                       r"before answering:\n(.|\n)*missing.py"):
        run_page(page, tmp_path)


def test_an_unknown_program_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that is neither run nor on the not-run list fails the block."""
    page = tmp_path / "unknown.md"
    page.write_text("```sh\nwget http://example.com\n```\n", encoding="utf-8")
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="unknown program 'wget'"):
        run_page(page, tmp_path)
