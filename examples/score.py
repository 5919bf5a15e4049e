"""The platform how-to's scoring script for custom data collection; only the import line changed.

init() creates the collectors; run() parses {"data": {...}}, collects the inputs, predicts, and
collects the outputs with the same correlation context.
"""

import json
import logging

import pandas as pd

from modeltap import Collector  # was: from azureml.ai.monitoring import Collector

inputs_collector = None
outputs_collector = None
model = None


class TinyModel:
    """A stand-in model: a fixed linear score over the numeric columns."""

    def predict(self, frame: pd.DataFrame) -> list[float]:
        numeric = frame.select_dtypes("number")
        return (numeric.sum(axis=1) * 0.1).round(4).tolist()


def init():
    global inputs_collector, outputs_collector, model
    # instantiate collectors with appropriate names, make sure align with deployment spec
    inputs_collector = Collector(name="model_inputs")
    outputs_collector = Collector(
        name="model_outputs", on_error=lambda e: logging.info("ex:{}".format(e))
    )
    model = TinyModel()


def run(data):
    # json data: { "data" : {  "col1": [1,2,3], "col2": [2,3,4] } }
    pdf_data = preprocess(json.loads(data))

    # tabular data: {  "col1": [1,2,3], "col2": [2,3,4] }
    input_df = pd.DataFrame(pdf_data)

    # collect inputs data, store correlation_context
    context = inputs_collector.collect(input_df)

    # perform scoring with pandas Dataframe, return value is also pandas Dataframe
    output_df = predict(input_df)

    # collect outputs data, pass in correlation_context so inputs and outputs data can be correlated later
    outputs_collector.collect(output_df, context)

    return output_df.to_dict()


def preprocess(json_data):
    # preprocess the payload to ensure it can be converted to pandas DataFrame
    return json_data["data"]


def predict(input_df):
    # process input and return with outputs
    return pd.DataFrame({"prediction": model.predict(input_df)})
