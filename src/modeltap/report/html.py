"""One run's report as one self-contained HTML file: inline CSS and SVG, no script, no request.

``render_report`` returns the page; ``write_report`` writes it for a run of the results store
(``modeltap monitor report``); ``write_run_report`` for a run folder (``MonitorRun.to_html``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modeltap._version import __version__
from modeltap.errors import MonitorError
from modeltap.monitor.results import MONITORING_FOLDER, ResultsStore
from modeltap.report.content import RunContent, pick_run, run_content
from modeltap.report.templating import environment

__all__ = ["render_report", "write_report", "write_run_report"]


def render_report(run: RunContent, source: str = "") -> str:
    """The report page of ``run``; ``source`` names where the results were read."""
    template = environment().get_template("report.html")
    return template.render(run=run, version=__version__, source=source or "the results store")


def _write(text: str, path: str | os.PathLike[str]) -> Path:
    target = Path(path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MonitorError(f"cannot write the report to {target}: {exc.strerror}") from None
    return target


def write_report(
    monitor: str,
    path: str | os.PathLike[str],
    *,
    destination: str,
    run: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Path:
    """Write the report of run ``run`` (its window end; default: the latest) of ``monitor``
    in ``destination`` to ``path``; returns the file written."""
    store = ResultsStore(destination, storage_options)
    stamps = store.runs(monitor)
    stamp = pick_run(store, monitor, run, stamps=stamps)
    content = run_content(store, monitor, stamp, stamps=stamps)
    return _write(render_report(content, store.run_url(monitor, stamp)), path)


def write_run_report(
    run_folder: str,
    path: str | os.PathLike[str],
    *,
    storage_options: dict[str, Any] | None = None,
) -> Path:
    """Write the report of the run stored in ``run_folder``
    (``{destination}/_monitoring/{monitor}/runs/{stamp}``) to ``path``."""
    head, marker, tail = run_folder.rstrip("/").rpartition(f"/{MONITORING_FOLDER}/")
    monitor, _, stamp = tail.partition("/runs/")
    if not marker or not monitor or not stamp:
        raise MonitorError(f"{run_folder!r} is not a monitor run folder of a results store")
    return write_report(monitor, path, destination=head, run=stamp, storage_options=storage_options)
