"""The scoring server: run a scoring script over HTTP, log its payloads, ingest other collectors.

``modeltap serve`` and ``modeltap ingest`` are the command-line entry points; ``build_app`` gives
the Starlette application of one worker for embedding or in-process tests.
"""

from modeltap.server.app import AppOptions, build_app
from modeltap.server.options import ServeOptions, resolve_options
from modeltap.server.process import serve
from modeltap.server.scoring import ScoringScript, ScoringScriptError

__all__ = [
    "AppOptions",
    "ScoringScript",
    "ScoringScriptError",
    "ServeOptions",
    "build_app",
    "resolve_options",
    "serve",
]
