"""Send frames with the reference SDK azureml-ai-monitoring, as a scoring script would.

Usage: python mdc_client.py COUNT (the SDK's AZUREML_MDC_* environment says where to send).
"""

import sys

import pandas as pd
from azureml.ai.monitoring import Collector
from azureml.ai.monitoring.context import BasicCorrelationContext
from azureml.ai.monitoring.init import teardown


def main():
    """Collect COUNT input/output pairs with explicit correlation ids, then drain the queue."""
    count = int(sys.argv[1])
    inputs = Collector(name="model_inputs")
    outputs = Collector(name="model_outputs")
    for i in range(count):
        frame = pd.DataFrame({"age": [20 + i, 30 + i], "city": ["Oslo", "Lima"]})
        context = inputs.collect(frame, BasicCorrelationContext(id=f"mdc-{i}"))
        outputs.collect(pd.DataFrame({"score": [i * 0.5]}), context)
    teardown(wait_for_flush=True)


if __name__ == "__main__":
    main()
