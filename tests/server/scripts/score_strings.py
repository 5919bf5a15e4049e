"""A scoring script that reports the storage pandas gives its string columns, and collects."""

import json

import pandas as pd

from modeltap import Collector

inputs = None


def init():
    """Make the collector, as the how-to's script does."""
    global inputs
    inputs = Collector(name="model_inputs")


def run(raw_data):
    """Build the request's frame, collect it, and answer with its string column's storage."""
    frame = pd.DataFrame(json.loads(raw_data)["data"])
    inputs.collect(frame)
    return {"storage": frame["segment"].dtype.storage, "rows": len(frame)}
