"""Monitor run reports: one self-contained HTML file per run, with server-drawn SVG charts
shared with the web UI (``modeltap[ui]``)::

    from modeltap.report import write_report

    write_report("credit-monitor", "report.html", destination="/data/modeltap")
"""

from __future__ import annotations

from modeltap.report.content import RunContent, pick_run, run_content
from modeltap.report.html import render_report, write_report, write_run_report

__all__ = [
    "RunContent",
    "pick_run",
    "render_report",
    "run_content",
    "write_report",
    "write_run_report",
]
