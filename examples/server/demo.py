"""Server demo: serve the example scoring script, send traffic, show what was captured, stop.

Run with ``python examples/server/demo.py`` (needs ``pip install "modeltap[server]"``).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from modeltap.formats import decode_records

HERE = Path(__file__).resolve().parent
ANNOUNCE = re.compile(r"server on (http://\S+) with")
MAIN = "import sys; from modeltap.cli import main; sys.exit(main())"


def start(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it until it stops
    command = [sys.executable, "-c", MAIN, "serve", "-f", str(HERE / "deployment.yaml"),
               "--port", "0", "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = ANNOUNCE.search(log_path.read_text(errors="replace"))
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    sys.exit(f"the server did not start:\n{log_path.read_text(errors='replace')}")


def post(url: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/score",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-request-id": request_id,
                 "x-tenant": "contoso"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        result: dict[str, Any] = json.loads(reply.read())
        return result


def read(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(data_dir.rglob("*.jsonl")):
        parts = path.relative_to(data_dir).parts
        if parts[0].startswith("."):
            continue
        found.setdefault(parts[2], []).extend(decode_records(path.read_bytes()))
    return found


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modeltap-server-demo-"))
    data_dir = work / "data"
    process, url = start(data_dir, work / "server.log")
    print(f"modeltap serve: {url} (log {work / 'server.log'})")
    rng = random.Random(7)
    requests = 100
    for i in range(requests):
        rows = rng.randint(1, 3)
        body = {"data": {
            "age": [rng.randint(20, 70) for _ in range(rows)],
            "income": [round(rng.gauss(50, 10), 2) for _ in range(rows)],
        }}
        post(url, body, f"demo-{i:03d}")
    print(f"sent {requests} requests to /score; stopping the server (SIGTERM flushes)")
    process.send_signal(signal.SIGTERM)
    code = process.wait(60)
    records = read(data_dir)
    print(f"server exited with {code}; data in {data_dir}\n")
    print(f"{'collection':<16}{'records':>8}")
    for name, items in sorted(records.items()):
        print(f"{name:<16}{len(items):>8}")
    by_id: dict[str, dict[str, Any]] = {}
    for name, items in records.items():
        for record in items:
            by_id.setdefault(record["correlationid"], {})[name] = record
    complete = Counter(len(v) for v in by_id.values())
    print(f"\nrequests with all four records: {complete.get(4, 0)} of {requests}")
    print("\na few correlated rows (correlationid: request -> inputs -> outputs, status, ms):")
    for request_id in sorted(by_id)[:3]:
        row = by_id[request_id]
        print(f"  {request_id}: {json.dumps(row['request']['data'])}")
        print(f"      inputs  {json.dumps(row['model_inputs']['data'])}")
        print(f"      outputs {json.dumps(row['model_outputs']['data'])}")
        print(f"      status {row['response']['statuscode']}, "
              f"{row['response']['latencyms']} ms, headers {row['request']['headers']}")
    files = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*.jsonl")
                   if not p.relative_to(data_dir).parts[0].startswith("."))
    print("\nfiles:")
    for path in files:
        print(f"  {path}")
    return 0 if code == 0 and complete.get(4, 0) == requests else 1


if __name__ == "__main__":
    sys.exit(main())
