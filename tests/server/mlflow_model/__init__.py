"""Tests of the built-in MLflow scoring script (modeltap.server.mlflow_model)."""
