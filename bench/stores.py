"""Benchmark: committed rows per second to local disk, S3 and Azure Blob, in jsonl and parquet.

Frames are 10,000×10 (4 float, 3 int, 3 str columns, as in bench/collector.py). One measurement
collects N frames from one thread (full_policy ``block``, so nothing is dropped) and ends when
``flush()`` returns, i.e. when every row is committed and readable at the destination. The
emulators run on loopback in processes of their own: moto's S3 server (``moto_server``) and
Azurite's blob service (npm ``azurite``, installed into ``.cache/azurite`` by ``make
install-dev``). Beside each emulator row the table gives the raw upload speed of that emulator
(one 32 MiB object put through the same fsspec client), which is what bounds it.

Usage: ``python bench/stores.py [--quick] [--skip-remote]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from tests.store.servers import S3_KEY, S3_SECRET, Azurite, free_port, wait_for_port  # noqa: E402

import modeltap  # noqa: E402
from _results import start_recording  # noqa: E402
from _workload import make_frame  # noqa: E402
from modeltap import BasicCorrelationContext, Collector  # noqa: E402
from modeltap.store import open_destination  # noqa: E402

ROWS = 10_000
TARGET_LOCAL_PARQUET = 1_000_000


def measure(
    url: str, options: dict[str, Any], fmt: str, frames: int, spool: Path
) -> tuple[float, float]:
    """Committed rows per second (wall clock) and per CPU-second of this process (user +
    system, every thread) for ``frames`` 10,000-row frames into ``url``."""
    modeltap.configure(
        {
            "endpoint_name": "bench",
            "name": "stores",
            "data_collector": {
                "destination": url,
                "storage_options": options,
                "format": fmt,
                "spool_dir": str(spool),
                "fsync": "never",
                "full_policy": "block",
                "block_timeout": 60,
            },
        }
    )
    frame = make_frame(ROWS)
    inputs = Collector(name="model_inputs")
    inputs.collect(frame.head(10))  # start the pipeline outside the measurement
    assert modeltap.flush(timeout=120)
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(frames):
        inputs.collect(frame, BasicCorrelationContext(id=f"b{i}"))
    assert modeltap.flush(timeout=600), "flush did not finish"
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    print(f"  {url.split('://')[0] if '://' in url else 'local'} {fmt}: {elapsed:.2f} s wall, "
          f"{user:.2f} s user + {system:.2f} s system CPU", file=sys.stderr)
    stats = modeltap.stats()
    modeltap.shutdown(timeout=60)
    assert stats.dropped_total == 0, stats
    return frames * ROWS / elapsed, frames * ROWS / max(user + system, 1e-9)


def upload_speed(url: str, options: dict[str, Any], scratch: Path) -> float:
    """MB/s of one 32 MiB upload through the destination (the emulator's own bound)."""
    destination = open_destination(url, options)
    blob = os.urandom(32 * 1024 * 1024)
    path = scratch / "probe.bin"
    path.write_bytes(blob)
    start = time.perf_counter()
    destination.publish(path, "probe/probe.bin")
    return len(blob) / 1e6 / (time.perf_counter() - start)


class MotoProcess:
    """moto's S3 server as a child process on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        binary = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def options(self) -> dict[str, Any]:
        """s3fs options for this server."""
        return {
            "endpoint_url": f"http://127.0.0.1:{self.port}",
            "key": S3_KEY,
            "secret": S3_SECRET,
            "client_kwargs": {"region_name": "us-east-1"},
        }

    def bucket(self) -> str:
        """Create a bucket."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="bench")
        return "bench"

    def stop(self) -> None:
        """End the process."""
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames per measurement")
    parser.add_argument("--skip-remote", action="store_true", help="local disk only")
    args = parser.parse_args()
    local_frames = 30 if args.quick else 100
    remote_frames = 5 if args.quick else 20
    scratch = Path(tempfile.mkdtemp(prefix="modeltap-bench-stores-"))
    rows: list[tuple[str, str, int, tuple[float, float], str]] = []
    stoppers: list[Callable[[], None]] = []
    try:
        for fmt in ("jsonl", "parquet"):
            data = scratch / f"local-{fmt}"
            speed = measure(str(data), {}, fmt, local_frames, data / ".modeltap" / "spool")
            rows.append(("local disk", fmt, local_frames, speed, "rename into place"))
        if not args.skip_remote:
            moto = MotoProcess()
            stoppers.append(moto.stop)
            bucket = moto.bucket()
            s3_bound = upload_speed(f"s3://{bucket}/probe", moto.options(), scratch)
            for fmt in ("jsonl", "parquet"):
                speed = measure(
                    f"s3://{bucket}/{fmt}", moto.options(), fmt, remote_frames, scratch / "sp"
                )
                rows.append(
                    ("S3 (moto_server)", fmt, remote_frames, speed, f"upload {s3_bound:.0f} MB/s")
                )
            azurite = Azurite(scratch / "azurite")
            azurite.start()
            stoppers.append(azurite.stop)
            container = azurite.new_container()
            az_options = azurite.storage_options()
            az_bound = upload_speed(f"az://{container}/probe", az_options, scratch)
            for fmt in ("jsonl", "parquet"):
                speed = measure(
                    f"az://{container}/{fmt}", az_options, fmt, remote_frames, scratch / "sp"
                )
                rows.append(
                    ("Azure (Azurite)", fmt, remote_frames, speed, f"upload {az_bound:.0f} MB/s")
                )
    finally:
        for stop in reversed(stoppers):
            stop()
        shutil.rmtree(scratch, ignore_errors=True)

    recording = start_recording("stores", enabled=not args.quick)
    print(f"\ncommitted rows/s, {ROWS:,}x10 frames (python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores)\n")
    print(
        f"| {'destination':<18} | {'format':<7} | {'frames':>6} | {'rows/s':>11} "
        f"| {'rows/CPU-s':>11} | bound by"
    )
    print(f"|{'-' * 20}|{'-' * 9}|{'-' * 8}|{'-' * 13}|{'-' * 13}|{'-' * 28}")
    for name, fmt, frames, (speed, per_cpu), bound in rows:
        print(
            f"| {name:<18} | {fmt:<7} | {frames:>6} | {speed:>11,.0f} | {per_cpu:>11,.0f} "
            f"| {bound}"
        )
    print(
        f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(rows/s is wall clock and suffers from other work on the machine; rows/CPU-s is what "
        "the pipeline itself costs)"
    )
    local_parquet = next(s[0] for n, f, _, s, _ in rows if n == "local disk" and f == "parquet")
    verdict = "PASS" if local_parquet >= TARGET_LOCAL_PARQUET else "FAIL"
    print(
        f"\ntarget: parquet to local disk >= {TARGET_LOCAL_PARQUET:,} rows/s: "
        f"{local_parquet:,.0f} -> {verdict}"
    )
    recording.save()


if __name__ == "__main__":
    main()
