"""Real servers on loopback for the alert tests: SMTP (aiosmtpd) and HTTP webhook receivers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_server(password: str | None = None) -> Iterator[tuple[int, Mailbox]]:
    """An aiosmtpd server on 127.0.0.1 (requiring AUTH with ``password`` when given)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            box.messages.append(parsed)
            box.recipients.append(list(envelope.rcpt_tos))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if isinstance(data, LoginPassword):
            login = (data.login.decode(), data.password.decode())
            box.logins.append(login)
            return AuthResult(success=login[1] == password)
        return AuthResult(success=False)

    options: dict[str, Any] = {}
    if password is not None:
        options = {"authenticator": authenticate, "auth_require_tls": False}
    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@dataclass
class Received:
    """Requests a webhook server received."""

    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0


@contextmanager
def webhook_server(fail_first: int = 0) -> Iterator[tuple[str, Received]]:
    """An HTTP server on 127.0.0.1 answering 500 to the first ``fail_first`` POSTs, then 200."""
    received = Received()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                received.attempts += 1
                failing = received.attempts <= fail_first
                if not failing:
                    received.bodies.append(json.loads(body))
                    received.headers.append(dict(self.headers))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/secret-path", received
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Accepted:
    """Connections a silent server accepted (and never answered)."""

    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@contextmanager
def silent_server() -> Iterator[tuple[str, Accepted]]:
    """A TCP server on 127.0.0.1 that accepts each connection, reads the request and never
    answers (until it is closed)."""
    accepted = Accepted()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    closing = threading.Event()

    listener.settimeout(0.05)  # to see ``closing`` soon

    def serve() -> None:
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            accepted.connections += 1
            connection.settimeout(5.0)
            try:
                accepted.requests.append(connection.recv(65536))
            except OSError:
                accepted.requests.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook/secret-path", accepted
    finally:
        closing.set()
        thread.join(timeout=5)
        listener.close()
        for connection in held:
            connection.close()
