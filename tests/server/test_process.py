"""The listening socket and process helpers."""

from __future__ import annotations

import socket

import pytest

from modeltap.errors import ModelTapError
from modeltap.server.process import bind
from modeltap.server.sdk_bridge import sdk_environment


def test_listening_socket_disables_nagle() -> None:
    """The listener has TCP_NODELAY (inherited by connections), so responses are not delayed."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_port_in_use_is_a_clear_error() -> None:
    """Binding a port that is taken raises ModelTapError naming host and port."""
    first = bind("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(ModelTapError, match=f"127.0.0.1:{port}"):
            bind("127.0.0.1", port)
    finally:
        first.close()


def test_sdk_environment_points_at_loopback_for_wildcards() -> None:
    """The reference SDK is told to send to 127.0.0.1 when the server binds every interface."""
    assert sdk_environment("0.0.0.0", 5001) == {
        "AZUREML_MDC_ENABLED": "true",
        "AZUREML_MDC_HOST": "127.0.0.1",
        "AZUREML_MDC_PORT": "5001",
    }
    assert sdk_environment("10.0.0.5", 80)["AZUREML_MDC_HOST"] == "10.0.0.5"
