"""A scoring script that reports what the deployment gave it: model folder and variables."""

import os

model_files = None


def init():
    """List the model folder, as a real script would load the model from it."""
    global model_files
    model_files = sorted(os.listdir(os.environ["AZUREML_MODEL_DIR"]))


def run(raw_data, request_headers):
    """Answer with the environment, the model files and one request header."""
    return {
        "azureml_model_dir": os.environ["AZUREML_MODEL_DIR"],
        "modeltap_model_dir": os.environ["MODELTAP_MODEL_DIR"],
        "greeting": os.environ.get("GREETING"),
        "model_files": model_files,
        "tenant": request_headers.get("x-tenant"),
        "body": raw_data,
    }
