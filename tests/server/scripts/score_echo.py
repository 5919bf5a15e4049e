"""A scoring script for the server tests: collects inputs and outputs, and misbehaves on request.

The body is JSON ``{"rows": [...], "mode": ...}``; ``mode`` picks the return value: ``text``
returns a str, ``response`` a Starlette Response, ``fail`` raises.
"""

import json
import os

from starlette.responses import Response

from modeltap import Collector

inputs = None
outputs = None


def init():
    """Create the collectors."""
    global inputs, outputs
    inputs = Collector(name="model_inputs")
    outputs = Collector(name="model_outputs")


def run(raw_data):
    """Echo the rows with a score; collect both sides."""
    body = json.loads(raw_data)
    mode = body.get("mode")
    if mode == "fail":
        raise RuntimeError("the model exploded on purpose")
    rows = body.get("rows", [])
    context = inputs.collect(rows)
    scored = [{"score": float(len(row))} for row in rows]
    outputs.collect(scored, context)
    if mode == "text":
        return "plain text answer"
    if mode == "response":
        return Response(b"custom", status_code=201, headers={"x-custom": "yes"},
                        media_type="text/plain")
    return {"scores": scored, "pid": os.getpid()}
