"""A scoring script that still imports the reference SDK ``azureml.ai.monitoring``, unmodified."""

import json

import pandas as pd
from azureml.ai.monitoring import Collector

inputs_collector = None
outputs_collector = None


def init():
    """Create the reference SDK's collectors."""
    global inputs_collector, outputs_collector
    inputs_collector = Collector(name="model_inputs")
    outputs_collector = Collector(name="model_outputs")


def run(data):
    """Collect inputs and outputs with the reference SDK."""
    frame = pd.DataFrame(json.loads(data)["data"])
    context = inputs_collector.collect(frame)
    output = pd.DataFrame({"prediction": frame.sum(axis=1) * 0.5})
    outputs_collector.collect(output, context)
    return output.to_dict(orient="records")
