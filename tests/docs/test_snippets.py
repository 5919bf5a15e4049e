"""Every fenced code block of the README, the docs and the benchmark pages runs as written.

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
    documented port, or the page ends, and is then stopped with SIGTERM and must exit 0. A
    scoring or ingest server must report every event it collected as written, none dropped, and,
    when it answered a request that captures data, have written files;
  - ``curl`` runs against the server started earlier on the page under the URL's documented
    port: the real program, or where it is not installed the same request sent by httpx
    (``curl_request`` translates the options the docs use: ``-s``, ``-i``, ``-H``, ``-d``,
    ``--data-binary``); it must get a 2xx answer, or a 4xx where the output documented after
    it (``# ...`` lines) is an error; documented output that is JSON must equal the answer;
  - ``python SCRIPT ...`` runs the script of the copied ``examples/`` (5 minutes at most);
  - not run, by this allowlist (``NOT_RUN_PROGRAMS`` and ``_not_run``): ``pip``,
    ``python3 -m venv`` and ``.`` (installing; the test environment is installed), ``make`` (the
    set-up targets: the whole suite, the demo),
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

import codecs
import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from markdown_it import MarkdownIt

import modeltap
import modeltap.monitor
from modeltap import BasicCorrelationContext
from modeltap.cli import build_parser
from modeltap.cli import main as cli_main
from modeltap.config import load_settings
from modeltap.snapshot import take_snapshot
from tests.store.servers import S3_KEY, S3_SECRET, MotoS3, free_port

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "bench" / "results").glob("*.md"),
    ]
)
RUN = frozenset({"python", "yaml", "sql", "json", "sh"})
NOT_RUN_LANGUAGES = frozenset({"text"})
_DIRECTIVE = re.compile(r"<!--\s*snippet:\s*(skip|needs|parse)\s+(.+?)\s*-->", re.DOTALL)

NOT_RUN_PROGRAMS = {
    "pip": "installs packages (the test environment is installed)",
    ".": "activates a virtual environment",
    "make": "the set-up targets (the whole suite, the demo)",
    "apt-get": "installs system packages",
    "git": "fetches a repository",
    "echo": "prints the status of the command before it",
}
"""Programs of ``sh`` blocks that are not run, and why (see also ``_not_run``)."""

IN_PROCESS = {
    "data": frozenset({0}),
    "monitor run": frozenset({0, 3}),
    "monitor history": frozenset({0}),
    "monitor list": frozenset({0}),
    "monitor report": frozenset({0}),
    "monitor status": frozenset({0}),
}
"""``modeltap`` commands run in this process, and the exit statuses that mean they ran."""

LONG_RUNNING = {
    "serve": ("--port", 5001, "/ready"),
    "ingest": ("--port", 50011, "/ready"),
    "ui": ("--port", 8765, "/healthz"),
    "monitor schedule": ("--metrics-port", 9465, "/metrics"),
}
"""``modeltap`` commands run as processes: their port option, default port and readiness probe."""

STOPPED = {"ui": frozenset({0, -signal.SIGTERM})}
"""Exit statuses after SIGTERM other than 0: ``modeltap ui`` runs uvicorn's own server loop,
which shuts down gracefully and then raises the signal again, so the process ends by it."""

CAPTURE_PATHS = frozenset({"/score", "/invocations", "/modeldata/log", "/events"})
_URL = re.compile(r"(?:https?://)?(?:localhost|127\.0\.0\.1):(\d+)(/[^\s'\"]*)?")
_SUMMARY = re.compile(r"([\w.-]+): collected (\d+), written (\d+), dropped (\d+)")
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")
START_TIMEOUT = 180.0  # seconds for a server to answer (an MLflow model loads slowly when busy)


@dataclass(frozen=True)
class Snippet:
    """One fenced block: where it is, its language, its code and any directive before it."""

    page: Path
    line: int
    language: str
    code: str
    directive: tuple[str, str] | None

    @property
    def where(self) -> str:
        """``page:line`` for messages."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    """The fenced blocks of a Markdown page, in order."""
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    found: list[Snippet] = []
    directive: tuple[str, str] | None = None
    for token in tokens:
        if token.type == "html_block":
            match = _DIRECTIVE.search(token.content)
            directive = (match.group(1), match.group(2)) if match else None
            continue
        if token.type == "fence":
            language = token.info.split()[0] if token.info.strip() else ""
            line = (token.map[0] + 1) if token.map else 0
            found.append(Snippet(page, line, language, token.content, directive))
        directive = None
    return found


def _seed() -> None:
    """The tree every page starts from: what modeltap writes with its defaults, then Parquet."""
    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    context = inputs.collect(pd.DataFrame({"age": [41, 63], "income": [60, 88]}))
    outputs.collect(pd.DataFrame({"prediction": [1, 0]}), context)
    assert modeltap.flush(timeout=60)
    modeltap.configure({"format": "parquet"})
    inputs.collect(pd.DataFrame({"age": [19], "income": [12]}))
    assert modeltap.flush(timeout=60)
    inputs.collect(pd.DataFrame({"age": [27], "income": [33.5], "debt_ratio": [0.4]}))
    assert modeltap.flush(timeout=60)
    modeltap.shutdown(timeout=60)
    modeltap.configure({})


EXAMPLE_AT = dt.datetime(2024, 5, 8, 3, 15, tzinfo=dt.UTC)
"""The ``--at`` of the docs' ``monitor run`` commands."""


def _seed_monitored(destination: str, spool_dir: Path | None = None) -> None:
    """The example monitor's assets (``credit-endpoint-blue-model_inputs`` and ``-outputs``):
    50 rows an hour before now and before EXAMPLE_AT (production), and 30 hours before each
    (reference), so its runs at either time find both windows."""
    section: dict[str, object] = {"destination": destination}
    if spool_dir is not None:
        section["spool_dir"] = str(spool_dir)
    modeltap.configure({"endpoint_name": "credit-endpoint", "name": "blue",
                        "data_collector": section})
    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    rng = np.random.default_rng(3)
    now = dt.datetime.now(dt.UTC)
    for end in (now, EXAMPLE_AT):
        for hours in (1, 30):
            time_ns = int((end - dt.timedelta(hours=hours)).timestamp()) * 1_000_000_000
            frame = pd.DataFrame({"age": rng.normal(40, 8, 50).round(),
                                  "income": rng.normal(60, 12, 50).round(1)})
            context = BasicCorrelationContext()
            inputs.emit(take_snapshot(frame), context, data_type="pandas.core.frame.DataFrame",
                        time_ns=time_ns)
            predictions = pd.DataFrame({"prediction": (frame.income * 0.1).round(2)})
            outputs.emit(take_snapshot(predictions), context,
                         data_type="pandas.core.frame.DataFrame", time_ns=time_ns)
    assert modeltap.flush(timeout=60)
    modeltap.shutdown(timeout=60)
    modeltap.configure({})


def _write_named_files(folder: Path) -> None:
    """The files the pages' commands name: a deployment, the example monitor under the names
    the pages give it, a folder of monitors and a UI key."""
    shutil.copytree(
        ROOT / "examples", folder / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "model", "modeltap-data", ".modeltap"),
    )
    shutil.copy(ROOT / "examples" / "score.py", folder / "score.py")
    deployment = yaml.safe_load((ROOT / "examples" / "server" / "deployment.yaml").read_text())
    deployment["code_configuration"]["code"] = "examples"
    (folder / "deployment.yaml").write_text(yaml.safe_dump(deployment), encoding="utf-8")
    monitor = (ROOT / "examples" / "monitor" / "monitor.yaml").read_text(encoding="utf-8")
    churn = monitor.replace("name: credit-monitor", "name: churn-monitor")
    assert churn != monitor
    (folder / "monitors").mkdir()
    for path in (folder / "monitor.yaml", folder / "credit-monitor.yaml",
                 folder / "monitors" / "credit-monitor.yaml"):
        path.write_text(monitor, encoding="utf-8")
    for path in (folder / "churn-monitor.yaml", folder / "monitors" / "churn-monitor.yaml"):
        path.write_text(churn, encoding="utf-8")
    (folder / "ui.key").write_text("docs-ui-key\n", encoding="utf-8")


def _logical_lines(script: str) -> list[str]:
    """The lines of a shell block with continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def _split(line: str) -> list[list[str]]:
    """The commands of one line: comments dropped, split at ``&&``, ``||``, ``;`` and ``|``;
    ``$'...'`` strings decoded as bash does."""
    line = _ANSI_C.sub(
        lambda m: shlex.quote(codecs.decode(m.group(1), "unicode_escape")), line
    )
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = []
    current: list[str] = []
    for word in lexer:
        if word and set(word) <= set(";&|"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(word)
    if current:
        commands.append(current)
    return commands


def _commands(script: str) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments dropped, split at
    ``&&``, ``||``, ``;`` and ``|``."""
    return [argv for line in _logical_lines(script) for argv in _split(line)]


def _documented(script: str) -> list[tuple[list[str], str]]:
    """Each command of a shell block with the output documented after it: the ``# ...`` lines
    that follow its line."""
    found: list[tuple[list[str], list[str]]] = []
    for line in _logical_lines(script):
        stripped = line.strip()
        if stripped.startswith("#"):
            if found:
                found[-1][1].append(stripped[1:].strip())
            continue
        for argv in _split(line):
            found.append((argv, []))
    return [(argv, "\n".join(notes)) for argv, notes in found]


def _kind(argv: list[str]) -> str:
    """``serve``, ``monitor run``, ...: the subcommand of a ``modeltap`` command."""
    if argv[1:2] == ["monitor"] and len(argv) > 2:
        return f"monitor {argv[2]}"
    return argv[1] if len(argv) > 1 else ""


def _not_run(argv: list[str]) -> str | None:
    """Why a command of a shell block is not run (None: it runs)."""
    program = argv[0]
    if program in NOT_RUN_PROGRAMS:
        return NOT_RUN_PROGRAMS[program]
    if program in ("python", "python3"):
        if argv[1:3] == ["-m", "venv"]:
            return "creates a virtual environment"
        if len(argv) > 1 and argv[1].startswith("bench/"):
            return "a benchmark: minutes at its documented sizes (results in bench/results/)"
    return None


def _environment() -> dict[str, str]:
    """The environment of the processes a page starts: this one's, with this tree importable."""
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@dataclass
class Server:
    """A long-running command of a page, started as a process of its own."""

    where: str
    kind: str
    command: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    files_before: set[Path]
    headers: dict[str, str] = field(default_factory=dict)
    captured: int = 0  # capture requests (to CAPTURE_PATHS) it answered with 2xx

    def output(self) -> str:
        """What it printed so far (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


class ShellSession:
    """Runs a page's shell commands; keeps the servers they start until the page ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.servers: dict[int, Server] = {}  # by documented port

    def run(self, snippet: Snippet) -> int:
        """Run the commands of a shell block; returns how many ran."""
        ran = 0
        for argv, documented in _documented(snippet.code):
            if _not_run(argv) is not None:
                continue
            ran += 1
            where = f"{snippet.where}: {shlex.join(argv)}"
            if argv[0] == "modeltap":
                kind = _kind(argv)
                if kind in LONG_RUNNING:
                    self.start(argv, kind, where)
                elif kind in IN_PROCESS:
                    _run_in_process(argv, IN_PROCESS[kind], where)
                else:
                    raise AssertionError(f"{where}: the runner does not know this command")
            elif argv[0] == "curl":
                self.curl(argv, documented, where)
            elif argv[0] in ("python", "python3"):
                self.python(argv, where)
            else:
                raise AssertionError(
                    f"{where}: unknown program {argv[0]!r}: run it in tests/docs/test_snippets.py "
                    "or list it in NOT_RUN_PROGRAMS with the reason"
                )
            print(f"{where}: ran")  # shown with a failure: what ran before it
        return ran

    def _files(self) -> set[Path]:
        data = self.folder / "modeltap-data"
        if not data.exists():
            return set()
        return {p for p in data.rglob("*") if p.is_file() and ".modeltap" not in p.parts}

    def start(self, argv: list[str], kind: str, where: str) -> None:
        """Start a long-running command on a free loopback port and wait until it answers."""
        option, documented, probe = LONG_RUNNING[kind]
        args = list(argv[1:])
        for index, word in enumerate(args):
            if word == option:
                documented = int(args[index + 1])
                del args[index : index + 2]
                break
            if word.startswith(f"{option}="):
                documented = int(word.split("=", 1)[1])
                del args[index]
                break
        args = ["127.0.0.1" if word == "0.0.0.0" else word for word in args]
        if kind == "monitor schedule":
            args += ["--metrics-address", "127.0.0.1"]
        headers: dict[str, str] = {}
        if "--auth-key-file" in args:
            key = (self.folder / args[args.index("--auth-key-file") + 1]).read_text().strip()
            headers["authorization"] = f"Bearer {key}"
        if documented in self.servers:
            self.stop(documented)
        port = free_port()
        args += [option, str(port)]
        log = self.folder / f".modeltap-{port}.log"
        files_before = self._files()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "modeltap.cli", *args], cwd=self.folder,
                env=_environment(), stdout=sink, stderr=subprocess.STDOUT,
            )
        server = Server(where, kind, shlex.join(argv), port, process, log, files_before, headers)
        try:
            self._wait(server, probe)
        except AssertionError:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
            raise
        self.servers[documented] = server
        if kind == "monitor schedule":  # the scheduler's own metrics are served
            status, body = _get(f"http://127.0.0.1:{port}/metrics", headers)
            assert status == 200 and "modeltap_monitor_" in body, f"{where}: /metrics: {body}"
        if kind == "ui":  # a page of the store, as a browser would open it
            status, body = _get(f"http://127.0.0.1:{port}/monitors", headers)
            assert status == 200 and "<html" in body.lower(), f"{where}: /monitors: {status}"

    def _wait(self, server: Server, probe: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = server.process.poll()
            if code is not None:
                raise AssertionError(
                    f"{server.where} exited with {code} before answering:\n"
                    f"{server.output()[-4000:]}"
                )
            with contextlib.suppress(OSError):
                status, _ = _get(f"http://127.0.0.1:{server.port}{probe}", server.headers)
                if status == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{server.where}: {probe} did not answer 200 within {START_TIMEOUT:.0f} s:\n"
                    f"{server.output()[-4000:]}"
                )
            time.sleep(0.2)

    def stop(self, documented: int) -> None:
        """SIGTERM a server; it must exit 0 having written what it collected."""
        server = self.servers.pop(documented)
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
            raise AssertionError(f"{server.where} did not stop within 120 s of SIGTERM") from None
        output = server.output()
        assert code in STOPPED.get(server.kind, {0}), (
            f"{server.where} exited with {code} after SIGTERM:\n{output[-4000:]}"
        )
        if server.kind not in ("serve", "ingest"):
            return
        summary = [tuple(int(n) for n in m.groups()[1:]) for m in _SUMMARY.finditer(output)]
        for collected, written, dropped in summary:
            assert (written, dropped) == (collected, 0), f"{server.where}:\n{output[-4000:]}"
        if server.captured and "nothing will be collected" not in output:
            assert sum(written for _, written, _ in summary) > 0, f"{server.where}:\n{output}"
            assert self._files() - server.files_before, f"{server.where}: no new data files"

    def close(self, *, check: bool = True) -> None:
        """Stop every server still running; with ``check`` each must have stopped as
        :meth:`stop` says (the first that did not is raised once all are stopped)."""
        failures: list[AssertionError] = []
        for documented in list(self.servers):
            try:
                self.stop(documented)
            except AssertionError as failure:
                failures.append(failure)
        if failures and check:
            raise failures[0]

    def curl(self, argv: list[str], documented: str, where: str) -> None:
        """Run curl against the server the URL's documented port names."""
        args: list[str] = []
        target: tuple[Server, str] | None = None
        for word in argv[1:]:
            match = _URL.search(word)
            if match:
                server = self.servers.get(int(match.group(1)))
                assert server is not None, f"{where}: no server started on that port before it"
                path = match.group(2) or "/"
                word = f"{word[: match.start()]}http://127.0.0.1:{server.port}{path}{word[match.end():]}"
                target = (server, path)
            args.append(word)
        assert target is not None, f"{where}: no loopback URL"
        if shutil.which("curl") is None:
            status, body = _send(curl_request(args, where))
        else:
            result = subprocess.run(
                ["curl", *args, "--max-time", "60", "--write-out", "\n%{http_code}"],
                capture_output=True, text=True, timeout=90, check=False,
            )
            assert result.returncode == 0, f"{where}: curl exited with {result.returncode}"
            body, _, code = result.stdout.rpartition("\n")
            status = int(code)
        error = "error" in documented.lower()
        assert 200 <= status < 300 or (error and 400 <= status < 500), (
            f"{where}: HTTP {status}: {body[:2000]}\n{target[0].output()[-3000:]}"
        )
        expected = _json_or_none(documented)
        if expected is not None:
            assert json.loads(body) == expected, f"{where}: answered {body}"
        if 200 <= status < 300 and target[1].split("?")[0] in CAPTURE_PATHS:
            target[0].captured += 1

    def python(self, argv: list[str], where: str) -> None:
        """Run a script of the copied examples."""
        script = self.folder / argv[1]
        assert script.is_file(), f"{where}: {argv[1]} does not exist"
        result = subprocess.run(
            [sys.executable, *argv[1:]], cwd=self.folder, env=_environment(),
            capture_output=True, text=True, timeout=300, check=False,
        )
        assert result.returncode == 0, (
            f"{where} exited with {result.returncode}:\n{result.stderr[-4000:]}"
        )


@dataclass(frozen=True)
class CurlRequest:
    """What a ``curl`` command line asks for (the options the docs use)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    include_headers: bool


def curl_request(args: list[str], where: str) -> CurlRequest:
    """The request of curl's arguments ``args``: ``-s``, ``-i``, ``-H``, ``-d`` /
    ``--data-binary`` and the URL; any other option is an error naming it."""
    url = ""
    headers: list[tuple[str, str]] = []
    body: bytes | None = None
    include = False
    words = iter(args)
    for word in words:
        if word in ("-s", "--silent"):
            continue
        if word in ("-i", "--include"):
            include = True
        elif word in ("-H", "--header"):
            name, _, value = next(words).partition(":")
            headers.append((name.strip(), value.strip()))
        elif word in ("-d", "--data", "--data-binary"):
            data = next(words)
            body = data.encode()
        elif word.startswith("-"):
            raise AssertionError(f"{where}: curl option {word} is not translated: install curl")
        else:
            url = word if "://" in word else f"http://{word}"
    if body is not None and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("content-type", "application/x-www-form-urlencoded"))
    return CurlRequest("POST" if body is not None else "GET", url, tuple(headers), body, include)


def _send(request: CurlRequest) -> tuple[int, str]:
    """Send a translated curl request with httpx: the status, and the body as curl prints it."""
    import httpx

    answer = httpx.request(
        request.method, request.url, headers=list(request.headers), content=request.body,
        timeout=60,
    )
    text = answer.text
    if request.include_headers:
        lines = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
        lines += [f"{name}: {value}" for name, value in answer.headers.items()]
        text = "\r\n".join(lines) + "\r\n\r\n" + text
    return answer.status_code, text


def _get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET ``url``: its status and body (an HTTP error status too)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")


def _json_or_none(text: str) -> object | None:
    """``text`` as JSON when it is a JSON object or array, else None."""
    if not text.startswith(("{", "[")):
        return None
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value


def _run_in_process(argv: list[str], statuses: frozenset[int], where: str) -> None:
    """Run a ``modeltap`` command through the command line's entry point in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(argv[1:])
    assert status in statuses, f"{where} exited with {status}:\n{err.getvalue()[-3000:]}"
    for option in ("-o", "--output"):
        if option in argv:
            written = Path(argv[argv.index(option) + 1])
            assert written.is_file() and written.stat().st_size > 0, f"{where}: no {written}"


def _parse_only(snippet: Snippet) -> None:
    """Parse the ``modeltap`` commands of a shell block (a ``parse`` directive)."""
    for argv in _commands(snippet.code):
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
        or (s.language == "sh" and any(_not_run(c) is None for c in _commands(s.code)))
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
        for name, value in _s3_environment(server.endpoint_url).items():
            patch.setenv(name, value)
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bucket")
        _seed_monitored("s3://bucket/modeltap", tmp_path_factory.mktemp("docs-s3-spool"))
    yield server.endpoint_url
    server.stop()


def _s3_environment(endpoint_url: str) -> dict[str, str]:
    """What points boto3, s3fs and the processes a page starts at the S3 server."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's folder: working directory, data dir, the named files, seeded trees."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(tmp_path / "modeltap-data"))
    _write_named_files(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "score", raising=False)
    modeltap.configure({})
    _seed()
    _seed_monitored(str(tmp_path / "modeltap-data"))


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
        for name, value in _s3_environment(endpoint_url).items():
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
        "    _seed, _seed_monitored, _write_named_files, run_page,\n"
        ")\n"
        "_write_named_files(Path.cwd())\n"
        "sys.path.insert(0, str(Path.cwd()))\n"
        "modeltap.configure({})\n"
        "_seed()\n"
        "_seed_monitored(str(Path.cwd() / 'modeltap-data'))\n"
        f"print(run_page(Path({str(page)!r}), Path.cwd(), optional=True))\n"
    )
    environment = {
        **_environment(),
        "MODELTAP_DATA_DIR": str(tmp_path / "modeltap-data"),
    }
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, env=environment,
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
            for argv in _commands(snippet.code):
                if _not_run(argv) is not None:
                    continue
                runs = (
                    (argv[0] == "modeltap" and _kind(argv) in known)
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
            for argv in _commands(snippet.code):
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
    assert _commands(script) == [
        ["modeltap", "data", "list"],
        ["modeltap", "serve", "--port", "1"],
        ["curl", "-s", "x"],
        ["jq", "."],
    ]


def test_shell_output_and_ansi_c_strings() -> None:
    """``$'...'`` is decoded as bash does, and ``# ...`` lines after a command are its output."""
    script = "curl -d $'a,b\\n1,2\\n' x  # note\n# {\"ok\": 1}\n\necho done\n"
    assert _documented(script) == [
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
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(ValueError, match="boom") as info:
        run_page(page, tmp_path)
    assert any(str(entry.path) == "broken.md:3" for entry in info.traceback)


def test_a_failing_command_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``modeltap`` command that exits 1 fails its block, naming the page, line and command."""
    page = tmp_path / "failing.md"
    page.write_text("```sh\nmodeltap monitor run -f missing.yaml\n```\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
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
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match=r"serve.md:1: modeltap serve .* exited with \d+ "
                       r"before answering:\n(.|\n)*missing.py"):
        run_page(page, tmp_path)


def test_an_unknown_program_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that is neither run nor on the not-run list fails the block."""
    page = tmp_path / "unknown.md"
    page.write_text("```sh\nwget http://example.com\n```\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="unknown program 'wget'"):
        run_page(page, tmp_path)
