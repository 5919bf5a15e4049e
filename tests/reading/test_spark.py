"""Reading collections with Spark, without a JVM: the Hadoop names of object-store URLs and
the Hadoop options modeltap's storage_options become."""

from __future__ import annotations

import os

import pytest

from modeltap.errors import StoreError
from modeltap.reading.spark import hadoop_options, hadoop_url


def test_hadoop_urls_and_options() -> None:
    """Object-store URLs and modeltap's storage_options become Hadoop's."""
    assert hadoop_url("/data/x") == "file:///data/x"
    assert hadoop_url("relative").startswith("file://" + os.getcwd())
    assert hadoop_url("s3://bucket/ep/dep") == "s3a://bucket/ep/dep"
    assert hadoop_url("gs://bucket/a") == "gs://bucket/a"
    assert (
        hadoop_url("az://container/ep", {"account_name": "acct"})
        == "abfss://container@acct.dfs.core.windows.net/ep"
    )
    with pytest.raises(StoreError, match=r"storage_options\.account_name"):
        hadoop_url("az://container/ep")
    with pytest.raises(StoreError, match="Spark cannot read memory://"):
        hadoop_url("memory://x/y")
    s3 = hadoop_options(
        "s3://bucket/x",
        {"key": "AK", "secret": "SK", "client_kwargs": {"endpoint_url": "http://localhost:9000"}},
    )
    assert s3["fs.s3a.access.key"] == "AK" and s3["fs.s3a.secret.key"] == "SK"
    assert s3["fs.s3a.endpoint"] == "http://localhost:9000"
    assert s3["fs.s3a.path.style.access"] == "true"
    azure = hadoop_options("az://c/x", {"account_name": "acct", "account_key": "KEY"})
    assert azure == {"fs.azure.account.key.acct.dfs.core.windows.net": "KEY"}
    gcs = hadoop_options("gs://b/x", {"token": "/keys/sa.json", "project": "p"})
    assert gcs["google.cloud.auth.service.account.json.keyfile"] == "/keys/sa.json"
    assert gcs["fs.gs.project.id"] == "p"
    assert hadoop_options("/local/path", {"key": "ignored"}) == {}
