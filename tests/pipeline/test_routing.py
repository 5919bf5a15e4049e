"""Routing: where a collection's segments go, and back from a spool path found at start-up."""

from __future__ import annotations

from pathlib import Path

from modeltap.config import load_settings
from modeltap.pipeline.routing import destination_urls, route, unroute


def test_a_collection_under_the_default_destination_and_one_with_a_root_of_its_own(
    tmp_path: Path,
) -> None:
    """A relative root goes to the default destination under its own folder; a URL root is
    spooled under a folder naming it, and ``unroute`` gives both back."""
    settings = load_settings(
        {
            "endpoint_name": "ep",
            "name": "dep",
            "data_collector": {
                "destination": str(tmp_path / "data"),
                "collections": {
                    "model_inputs": {"enabled": True},
                    "elsewhere": {"enabled": True, "data": {"path": "s3://bucket/prefix"}},
                },
            },
        }
    )
    url, relative, spooled = route(settings, "ep/dep/model_inputs")
    assert (url, relative, spooled) == (settings.destination, "ep/dep/model_inputs",
                                        "ep/dep/model_inputs")
    assert unroute(settings, f"{spooled}/2026/01/02/03/x-000000.jsonl") == (
        settings.destination, "ep/dep/model_inputs/2026/01/02/03/x-000000.jsonl"
    )
    url, relative, spooled = route(settings, "s3://bucket/prefix")
    assert (url, relative) == ("s3://bucket/prefix", "")
    assert spooled.startswith("_roots/")
    assert unroute(settings, f"{spooled}/2026/01/02/03/x.jsonl") == (
        "s3://bucket/prefix", "2026/01/02/03/x.jsonl"
    )
    assert settings.destination in destination_urls(settings)
