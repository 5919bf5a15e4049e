"""Request-head limits and slow-request timeouts, tried with raw sockets on a real server."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modeltap.errors import ConfigError
from modeltap.server.limits import DEFAULT_LIMITS, REFUSALS, HttpLimits
from modeltap.server.options import resolve_options
from tests.server.conftest import SCRIPTS, ServerProcess, running, write_deployment

MAX_HEADER_BYTES = 4096
MAX_HEADERS = 20
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A scoring server with small head limits and one-second timeouts."""
    folder = tmp_path_factory.mktemp("limits")
    deployment = write_deployment(
        folder,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        server={"max_header_bytes": MAX_HEADER_BYTES, "max_headers": MAX_HEADERS,
                "header_timeout": TIMEOUT, "body_timeout": TIMEOUT},
    )
    with running(folder, "serve", "-f", str(deployment)) as process:
        yield process


def _connect(server: ServerProcess) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((str(address.hostname), int(address.port or 80)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s pass)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _score(server: ServerProcess) -> bytes:
    """A well-formed /score call over a fresh connection, and its answer."""
    body = b'{"rows": [{"a": 1}]}'
    with _connect(server) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        return _read_all(sock)


def _refused(server: ServerProcess) -> dict[tuple[str, str], float]:
    """``modeltap_http_refused_total`` of /metrics by (reason, status), summed over workers."""
    with server.client() as client:
        text = client.get("/metrics").text
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "modeltap_http_refused_total":
                key = (sample.labels["reason"], sample.labels["status"])
                found[key] = found.get(key, 0.0) + sample.value
    return found


def test_a_header_beyond_the_size_limit_is_431(server: ServerProcess) -> None:
    """One endless header field: 431 and a closed connection once it passes the limit, not a
    worker buffering it; the server still serves."""
    with _connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\nx-big: ")
        sent = 0
        try:
            while sent < 50 * MAX_HEADER_BYTES:
                sock.sendall(b"a" * 1024)
                sent += 1024
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"larger than 4096 bytes" in answer
    assert _score(server).startswith(b"HTTP/1.1 200 ")


def test_a_head_in_one_piece_beyond_the_limit_is_431(server: ServerProcess) -> None:
    """A complete head a little over the limit, sent at once, is refused before run()."""
    with _connect(server) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * MAX_HEADER_BYTES
                     + b"\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_too_many_header_fields_are_431(server: ServerProcess) -> None:
    """More fields than the limit: 431 naming the limit; at the limit: served."""
    fields = b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    with _connect(server) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\n" + fields + b"\r\n")
        refused = _read_all(sock)
    assert refused.startswith(b"HTTP/1.1 431 "), refused[:200]
    assert b"more than 20 header fields" in refused
    fields = b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEADERS - 1))
    with _connect(server) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\nconnection: close\r\n" + fields + b"\r\n")
        served = _read_all(sock)
    assert served.startswith(b"HTTP/1.1 200 "), served[:200]


def test_a_slow_head_is_timed_out_with_408(server: ServerProcess) -> None:
    """A head sent a byte at a time is cut off after header_timeout with 408, though each
    byte comes well within keep-alive's timeout."""
    started = time.monotonic()
    with _connect(server) as sock:
        answer = b""
        try:
            for byte in b"GET /ready HTTP/1.1\r\nx-slow: " + b"a" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if time.monotonic() - started > 5 * TIMEOUT:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert time.monotonic() - started < 5 * TIMEOUT


def test_a_silent_connection_is_closed(server: ServerProcess) -> None:
    """A connection that sends nothing is closed after header_timeout, without an answer."""
    started = time.monotonic()
    with _connect(server) as sock:
        answer = _read_all(sock)
    assert answer == b""
    assert TIMEOUT * 0.9 <= time.monotonic() - started < 5 * TIMEOUT


def test_a_stalled_body_is_cut_off(server: ServerProcess) -> None:
    """A body that stops arriving: the connection is closed after body_timeout, and the
    server serves on."""
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 1000\r\n\r\n{\"rows\": ")
        answer = _read_all(sock)
    assert not answer.startswith(b"HTTP/1.1 200 ")
    assert time.monotonic() - started < 5 * TIMEOUT
    assert _score(server).startswith(b"HTTP/1.1 200 ")


def test_every_refusal_is_counted_in_metrics(server: ServerProcess) -> None:
    """Each kind of refusal of the HTTP layer (431 twice over, 408, a 400 the parser refuses,
    a silent connection and a stalled body closed without an answer) adds one to
    ``modeltap_http_refused_total`` with its reason and status; every reason is shown."""
    before = _refused(server)
    assert set(before) == set(REFUSALS.items())
    with _connect(server) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * MAX_HEADER_BYTES
                     + b"\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 431 ")
    with _connect(server) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\n"
                     + b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 431 ")
    with _connect(server) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\nx-slow: a")
        assert _read_all(sock).startswith(b"HTTP/1.1 408 ")
    with _connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 400 ")
    with _connect(server) as sock:
        assert _read_all(sock) == b""
    with _connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 1000\r\n\r\n{")
        assert not _read_all(sock).startswith(b"HTTP/1.1 200 ")
    after = _refused(server)
    grown = {key: after[key] - before[key] for key in after if after[key] != before[key]}
    assert grown == {
        ("header_too_large", "431"): 1,
        ("too_many_headers", "431"): 1,
        ("header_timeout", "408"): 1,
        ("malformed_request", "400"): 1,
        ("no_request", "none"): 1,
        ("body_timeout", "none"): 1,
    }


def test_connections_beyond_the_limit_are_counted(server_dir: Path) -> None:
    """A connection beyond max_connections while every other one has a request in progress
    is answered 503 and counted as connection_limit; one beyond it while another waits for a
    head closes that one, counted as connection_evicted."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        server={"max_connections": 2},
    )
    with running(server_dir, "serve", "-f", str(deployment)) as server:
        before = _refused(server)
        busy = [_connect(server) for _ in range(2)]
        try:
            for sock in busy:  # a request in progress: its body has not all arrived
                sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\n"
                             b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{")
            time.sleep(0.5)  # the server has read both heads
            with _connect(server) as extra:
                assert _read_all(extra).startswith(b"HTTP/1.1 503 ")
        finally:
            for sock in busy:
                sock.close()
        waiting = [_connect(server) for _ in range(2)]
        try:
            time.sleep(1.0)  # the server has accepted both
            assert _score(server).startswith(b"HTTP/1.1 200 ")
            # one of them is closed to make room, well within header_timeout (10 s)
            closed, _, _ = select.select(waiting, [], [], 5)
            assert closed and closed[0].recv(1) == b"", "no waiting connection was closed"
        finally:
            for sock in waiting:
                sock.close()
        after = _refused(server)
    assert after[("connection_limit", "503")] - before[("connection_limit", "503")] == 1
    assert after[("connection_evicted", "none")] - before[("connection_evicted", "none")] == 1


def test_limits_come_from_the_server_section(tmp_path_factory: pytest.TempPathFactory) -> None:
    """server: keys set the limits; bad values are ConfigErrors naming the key."""
    folder = tmp_path_factory.mktemp("options")
    script = str(SCRIPTS / "score_echo.py")
    good = write_deployment(folder / "good", server={"max_headers": 7, "header_timeout": 2.5})
    options = resolve_options(deployment_file=str(good), entry_script=script)
    assert options.http_limits == HttpLimits(
        max_header_bytes=DEFAULT_LIMITS.max_header_bytes, max_headers=7, header_timeout=2.5,
        body_timeout=DEFAULT_LIMITS.body_timeout,
    )
    for key, value in (("header_timeout", 0), ("max_header_bytes", "big"),
                       ("body_timeout", float("inf"))):
        bad = write_deployment(folder / key, server={key: value})
        with pytest.raises(ConfigError, match=f"server.{key}"):
            resolve_options(deployment_file=str(bad), entry_script=script)


def test_silent_connections_cannot_take_every_descriptor(server_dir: Path) -> None:
    """With a low open-file limit and a long header timeout, more silent connections than the
    worker could hold: the oldest are closed to make room, and /score is still answered."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        server={"header_timeout": 60.0},
    )
    with running(server_dir, "serve", "-f", str(deployment), open_files=256) as server:
        silent = []
        try:
            for _ in range(300):
                silent.append(_connect(server))
            started = time.monotonic()
            answer = _score(server)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
            assert time.monotonic() - started < 10
            silent[0].settimeout(5)
            assert silent[0].recv(1) == b""  # the longest waiting was closed
        finally:
            for sock in silent:
                sock.close()
