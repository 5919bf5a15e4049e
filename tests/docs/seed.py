"""What a page's folder holds before its blocks run: the files its commands name and data that
modeltap collected (see tests/docs/test_snippets.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import modeltap
from modeltap import BasicCorrelationContext
from modeltap.snapshot import take_snapshot
from tests.docs.pages import ROOT
from tests.store.servers import S3_KEY, S3_SECRET

__all__ = [
    "EXAMPLE_AT",
    "s3_environment",
    "seed_collected",
    "seed_monitored",
    "write_named_files",
]


def seed_collected() -> None:
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


def seed_monitored(destination: str, spool_dir: Path | None = None) -> None:
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


def write_named_files(folder: Path) -> None:
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


def s3_environment(endpoint_url: str) -> dict[str, str]:
    """What points boto3, s3fs and the processes a page starts at the S3 server."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
