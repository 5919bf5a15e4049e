"""Scripts that still import ``azureml.ai.monitoring`` (1.0.0) run unmodified under serve.

``modeltap serve`` sets that SDK's environment so its sender posts to this server's
``/modeldata/log``. Small bridges make it behave as it does on the platform: collect()
without a context uses the current request's id (so its records correlate with the payload
records), and shutdown drains the SDK's queue while the server still listens. With endpoint
auth on, its sender presents the serving process's own key (``Authorization: Bearer``), made
at start and never written anywhere, which /modeldata/log accepts besides the endpoint key:
no client, loopback or not, ingests without a key.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from modeltap.context import current_context

__all__ = ["bridge_reference_sdk", "drain_reference_sdk", "sdk_environment"]

logger = logging.getLogger("modeltap.server")

_PACKAGE = "azureml.ai.monitoring"


def sdk_environment(host: str, port: int) -> dict[str, str]:
    """The variables that make the reference SDK send to this server (legacy mode: every
    collection on the client side; modeltap's configuration decides what is kept)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "::", "", "localhost") else host
    return {
        "AZUREML_MDC_ENABLED": "true",
        "AZUREML_MDC_HOST": target,
        "AZUREML_MDC_PORT": str(port),
    }


def bridge_reference_sdk(key: str | None = None) -> bool:
    """Make the SDK's default context the current request's, and its sender present ``key``
    (when given); False if the SDK is not loaded."""
    if _PACKAGE not in sys.modules:
        return False
    try:
        collector_json: Any = sys.modules.get(f"{_PACKAGE}.collector_json")
        context_module: Any = sys.modules.get(f"{_PACKAGE}.context")
        if collector_json is None or context_module is None:
            return False
        if key is not None:
            _send_with_key(importlib.import_module(f"{_PACKAGE}.worker.sender"), key)
        original: Callable[[], Any] = context_module.get_context
        basic = context_module.BasicCorrelationContext

        def get_context() -> Any:
            current = current_context()
            if current is None:
                return original()
            return basic(id=current.get_id(), timestamp=current.get_timestamp())

        collector_json.get_context = get_context
    except AttributeError:  # another version of the SDK: leave it alone
        logger.warning("azureml.ai.monitoring has an unexpected shape; not bridged")
        return False
    return True


def _send_with_key(sender: Any, key: str) -> None:
    """Make the SDK's MdcSender post with ``Authorization: Bearer <key>`` (its own post also
    logs the headers at debug level: this one does not)."""
    requests = sender.requests
    authorization = f"Bearer {key}"

    def post_request(
        self: Any, url: str, payload: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        reply = requests.post(
            url, data=payload, headers={**(headers or {}), "Authorization": authorization}
        )
        return int(reply.status_code), str(reply.text)

    sender.MdcSender._post_request = post_request


def drain_reference_sdk(timeout: float = 10.0) -> None:
    """Send what the SDK still queues (its sender posts to this server, so call it while the
    server still listens)."""
    init_module: Any = sys.modules.get(f"{_PACKAGE}.init")
    if init_module is None or not getattr(init_module, "sdk_ready", False):
        return
    thread = threading.Thread(
        target=init_module.teardown, kwargs={"wait_for_flush": True}, daemon=True
    )
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        logger.error("the azureml.ai.monitoring queue did not drain within %ss", timeout)
