"""Running a page's shell commands: ``modeltap`` commands in this process or as servers on
loopback, ``curl`` against those servers (or its translation to httpx), example scripts (see
tests/docs/test_snippets.py)."""

from __future__ import annotations

import contextlib
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from modeltap.cli import main as cli_main
from tests.docs.pages import (
    IN_PROCESS,
    LONG_RUNNING,
    ROOT,
    Snippet,
    documented_commands,
    not_run_reason,
    subcommand,
)
from tests.store.servers import free_port

__all__ = [
    "CurlRequest",
    "Server",
    "ShellSession",
    "curl_request",
    "environment",
    "http_get",
    "json_or_none",
    "run_in_process",
    "send_translated",
]

CAPTURE_PATHS = frozenset({"/score", "/invocations", "/modeldata/log", "/events"})
_URL = re.compile(r"(?:https?://)?(?:localhost|127\.0\.0\.1):(\d+)(/[^\s'\"]*)?")
_SUMMARY = re.compile(r"([\w.-]+): collected (\d+), written (\d+), dropped (\d+)")
START_TIMEOUT = 180.0  # seconds for a server to answer (an MLflow model loads slowly when busy)


def environment() -> dict[str, str]:
    """The environment of the processes a page starts: this one's, with this tree importable."""
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@dataclass
class Server:
    """A long-running command of a page, started as a process of its own."""

    where: str
    kind: str
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
        for argv, documented in documented_commands(snippet.code):
            if not_run_reason(argv) is not None:
                continue
            ran += 1
            where = f"{snippet.where}: {shlex.join(argv)}"
            if argv[0] == "modeltap":
                kind = subcommand(argv)
                if kind in LONG_RUNNING:
                    self.start(argv, kind, where)
                elif kind in IN_PROCESS:
                    run_in_process(argv, IN_PROCESS[kind], where)
                else:
                    raise AssertionError(f"{where}: the runner does not know this command")
            elif argv[0] == "curl":
                self.curl(argv, documented, where)
            elif argv[0] in ("python", "python3"):
                self.python(argv, where)
            else:
                raise AssertionError(
                    f"{where}: unknown program {argv[0]!r}: run it in tests/docs/shell.py or "
                    "list it in NOT_RUN_PROGRAMS (tests/docs/pages.py) with the reason"
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
                env=environment(), stdout=sink, stderr=subprocess.STDOUT,
            )
        server = Server(where, kind, port, process, log, files_before, headers)
        try:
            self._wait(server, probe)
        except AssertionError:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
            raise
        self.servers[documented] = server
        if kind == "monitor schedule":  # the scheduler's own metrics are served
            status, body = http_get(f"http://127.0.0.1:{port}/metrics", headers)
            assert status == 200 and "modeltap_monitor_" in body, f"{where}: /metrics: {body}"
        if kind == "ui":  # a page of the store, as a browser would open it
            status, body = http_get(f"http://127.0.0.1:{port}/monitors", headers)
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
                status, _ = http_get(f"http://127.0.0.1:{server.port}{probe}", server.headers)
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
        assert code == 0, (
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
            status, body = send_translated(curl_request(args, where))
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
        expected = json_or_none(documented)
        if expected is not None:
            assert json.loads(body) == expected, f"{where}: answered {body}"
        if 200 <= status < 300 and target[1].split("?")[0] in CAPTURE_PATHS:
            target[0].captured += 1

    def python(self, argv: list[str], where: str) -> None:
        """Run a script of the copied examples."""
        script = self.folder / argv[1]
        assert script.is_file(), f"{where}: {argv[1]} does not exist"
        result = subprocess.run(
            [sys.executable, *argv[1:]], cwd=self.folder, env=environment(),
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


def send_translated(request: CurlRequest) -> tuple[int, str]:
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


def http_get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET ``url``: its status and body (an HTTP error status too)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")


def json_or_none(text: str) -> object | None:
    """``text`` as JSON when it is a JSON object or array, else None."""
    if not text.startswith(("{", "[")):
        return None
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value


def run_in_process(argv: list[str], statuses: frozenset[int], where: str) -> None:
    """Run a ``modeltap`` command through the command line's entry point in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(argv[1:])
    assert status in statuses, f"{where} exited with {status}:\n{err.getvalue()[-3000:]}"
    for option in ("-o", "--output"):
        if option in argv:
            written = Path(argv[argv.index(option) + 1])
            assert written.is_file() and written.stat().st_size > 0, f"{where}: no {written}"
