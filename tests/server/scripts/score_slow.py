"""A scoring script for the server tests: run() takes a while and reports how many run() calls
were in progress at once (the most seen so far)."""

import json
import threading
import time
from pathlib import Path

_lock = threading.Lock()
_running = 0
_most = 0


def init():
    """Nothing to load."""


def run(raw_data):
    """Sleep 0.3 s (or the body's "sleep" seconds; or, given "started" and "release" paths,
    create the first and wait up to 60 s for the second to exist); return the most concurrent
    run() calls seen, and this thread's name."""
    global _running, _most
    with _lock:
        _running += 1
        _most = max(_most, _running)
    body = json.loads(raw_data or "{}")
    if "release" in body:
        Path(body["started"]).touch()
        deadline = time.monotonic() + 60
        while not Path(body["release"]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        time.sleep(body.get("sleep", 0.3))
    with _lock:
        _running -= 1
        return {"most_concurrent": _most, "thread": threading.current_thread().name}
