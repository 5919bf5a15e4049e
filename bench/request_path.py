"""Instructions the request path costs, counted by callgrind (deterministic, unlike a clock).

Three workloads, each run twice under ``valgrind --tool=callgrind`` with the same inputs: once
doing the work and once without it (the same frames built, the same loop), so the difference
divided by the calls is the work's own count. Only what runs inside ``operator.call`` is counted
(``--toggle-collect=_operator_call``), so interpreter start-up and imports are left out:

* ``pair``: the how-to script's two ``collect()`` calls (inputs: 2 rows of an int, a float and
  a string column; outputs: 2 rows of one float column), each call on new frames as ``run()``
  makes them;
* ``payload``: payload capture of one /score call (request and response records, two headers);
* ``frame``: the forwarder's pickle (``wire.events_frame``) of the 64 events of 32 ``pair``
  calls, per event.

The queue is drained on the calling thread every 32 calls (``--drain``; the writer is not
started), so the count is the request thread's alone and repeatable: the same code and
arguments give the same count. Changing the allocation pattern (``--drain``, the calls, a
different variant) moves a ``pair`` count by up to about 4k instructions, through where the
garbage collector's young collections fall, so differences below that are noise. Usage::

    python bench/request_path.py [--calls 300] [--runs 1] [--only pair] [--drain 32]

(needs valgrind on the path; prints the instructions per call of each workload, each run).
"""

from __future__ import annotations

import argparse
import gc
import operator
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import start_recording

_WORKLOADS = ("pair", "payload", "frame")


def _inner(workload: str, calls: int, work: bool, drain: int) -> None:
    """One measured process: ``calls`` iterations of ``workload``, doing its work or not."""
    import pandas as pd

    import modeltap
    from modeltap.pipeline.writer import Writer
    from modeltap.pipeline.writer_process import wire

    Writer.start = lambda self: None  # type: ignore[method-assign]  # drained below instead
    spool = tempfile.mkdtemp(prefix="modeltap-bench-")
    modeltap.configure(
        {
            "collections": {
                name: {"enabled": "True"}
                for name in ("model_inputs", "model_outputs", "request", "response")
            },
            "destination": "memory://request-path-bench",
            "spool_dir": spool,
            "queue_max_events": 1_000_000,
            "writer": "thread",
            "request_logging": {"capture_headers": ["x-tenant", "user-agent"]},
        }
    )
    from modeltap.context import BasicCorrelationContext
    from modeltap.pipeline.runtime import get_runtime

    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    runtime = get_runtime()
    queue = runtime.queue
    capture: Any = None
    if workload == "payload":
        from modeltap.server.capture import PayloadCapture

        capture = PayloadCapture(runtime.settings, max_event_bytes=4 * 1024 * 1024)
    headers = [(b"content-type", b"application/json"), (b"x-tenant", b"t1"),
               (b"user-agent", b"wrk")]
    body = b'{"data": {"age": [31, 58], "income": [52.5, 95.5], "city": ["a", "b"]}}'
    kept: list[Any] = []

    def loop() -> None:
        for number in range(calls):
            data = {"age": [31, 58 + number], "income": [52.5, 95.5], "city": ["a", "b"]}
            if workload == "pair":
                frame = pd.DataFrame(data)
                prediction = pd.DataFrame({"prediction": [0.1 * number, 0.2]})
                if work:
                    context = inputs.collect(frame)
                    outputs.collect(prediction, context)
            elif workload == "payload":
                context = BasicCorrelationContext()
                if work:
                    capture.capture(
                        context, path="/score", method="POST", request_headers=headers,
                        request_body=body, request_type="application/json", status=200,
                        response_headers=headers, response_body=b'{"prediction": [0.1]}',
                        response_type="application/json", latency_ms=1.25,
                    )
            else:  # frame: the pickling alone is counted, not the collect() calls
                context = inputs.collect(pd.DataFrame(data))
                outputs.collect(pd.DataFrame({"prediction": [0.1 * number, 0.2]}), context)
                if number % drain == drain - 1:
                    items = queue.take_all_packed(0)
                    if work:
                        kept.append(operator.call(wire.events_frame, number, items))
                continue
            if number % drain == drain - 1:
                queue.take_all_packed(0)

    before = [g["collections"] for g in gc.get_stats()]
    if workload == "frame":
        loop()  # counted: operator.call around each wire.frame
    else:
        operator.call(loop)  # callgrind counts inside operator.call only
    after = [g["collections"] for g in gc.get_stats()]
    print("collections per generation:", [b - a for a, b in zip(before, after, strict=True)],
          file=sys.stderr)
    sys.stderr.flush()
    os._exit(0)  # no shutdown: the writer never started


def _count(workload: str, calls: int, work: bool, drain: int) -> int:
    """Instructions of one measured process (all threads)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             "--toggle-collect=_operator_call",
             sys.executable, __file__, "--inner", workload, "--calls", str(calls),
             "--work" if work else "--no-work", "--drain", str(drain)],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        gcs = [line for line in done.stderr.splitlines() if line.startswith("collections")]
        print(f"  {workload} {'work' if work else 'no work'}: {gcs}", flush=True)
        match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        assert match is not None, "callgrind wrote no summary"
        return int(match.group(1))


def main() -> None:
    """Parse arguments; run the inner loop or measure the workloads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inner", choices=_WORKLOADS)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--work", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--only", choices=_WORKLOADS, action="append")
    parser.add_argument("--drain", type=int, default=32, help="calls between queue drains")
    args = parser.parse_args()
    if args.inner:
        _inner(args.inner, args.calls, args.work, args.drain)
        return
    recording = start_recording("request_path")
    for workload in args.only or _WORKLOADS:
        for run in range(args.runs):
            with_work = _count(workload, args.calls, True, args.drain)
            without = _count(workload, args.calls, False, args.drain)
            per_call = (with_work - without) / args.calls
            if workload == "frame":
                per_call /= 2  # two events per call
            print(f"{workload} run {run + 1}: {per_call / 1000:.1f} k instructions per "
                  f"{'event' if workload == 'frame' else 'call'}", flush=True)
    recording.save()


if __name__ == "__main__":
    main()
