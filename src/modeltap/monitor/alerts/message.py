"""What an alert says: the breached signals of a run with their features, values and
thresholds (or the signals that recovered), as a subject, plain text, HTML and JSON."""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AlertMessage", "BreachedRow", "report_link"]


@dataclass(frozen=True)
class BreachedRow:
    """One metric over its threshold."""

    signal: str
    feature: str
    metric: str
    value: float
    threshold: float


def _number(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6g}"


def report_link(ui_url: str | None, monitor: str, window_end: dt.datetime) -> str | None:
    """The report's address: ``ui_url`` with ``{monitor}`` and ``{window}`` filled in, or
    ``{ui_url}/monitors/{monitor}/runs/{window}`` when it has neither."""
    if not ui_url:
        return None
    window = window_end.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if "{monitor}" in ui_url or "{window}" in ui_url:
        return ui_url.replace("{monitor}", monitor).replace("{window}", window)
    return f"{ui_url.rstrip('/')}/monitors/{monitor}/runs/{window}"


@dataclass(frozen=True)
class AlertMessage:
    """A breach (``kind="breach"``) or recovery notice for one window of one monitor."""

    kind: Literal["breach", "recovery"]
    monitor: str
    window_end: dt.datetime
    signals: list[str]
    rows: list[BreachedRow] = field(default_factory=list)
    link: str | None = None

    @property
    def window(self) -> str:
        """The window's end, ISO 8601 UTC."""
        return self.window_end.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")

    @property
    def subject(self) -> str:
        """One line."""
        names = ", ".join(self.signals)
        if self.kind == "recovery":
            return f"[modeltap] {self.monitor} recovered: {names} back under thresholds"
        return f"[modeltap] {self.monitor} breached: {names} (window ending {self.window})"

    def summary(self) -> list[str]:
        """The lines of the message, without the table."""
        if self.kind == "recovery":
            lines = [
                f"The signal '{name}' of monitor '{self.monitor}' is back under its metric "
                f"thresholds (window ending {self.window})."
                for name in self.signals
            ]
        else:
            lines = [
                f"The signal '{name}' of monitor '{self.monitor}' has failed due to one or more "
                f"features violating metric thresholds (window ending {self.window})."
                for name in self.signals
            ]
        return lines

    def text(self) -> str:
        """The plain-text body."""
        lines = self.summary()
        if self.rows:
            lines += ["", "signal | feature | metric | value | threshold"]
            lines += [
                f"{r.signal} | {r.feature} | {r.metric} | {_number(r.value)} | "
                f"{_number(r.threshold)}"
                for r in self.rows
            ]
        if self.link:
            lines += ["", f"Report: {self.link}"]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """The HTML body (every value escaped)."""
        parts = [f"<p>{html.escape(line)}</p>" for line in self.summary()]
        if self.rows:
            head = "".join(
                f"<th>{h}</th>" for h in ("signal", "feature", "metric", "value", "threshold")
            )
            body = "".join(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(cell)}</td>"
                    for cell in (
                        r.signal,
                        r.feature,
                        r.metric,
                        _number(r.value),
                        _number(r.threshold),
                    )
                )
                + "</tr>"
                for r in self.rows
            )
            parts.append(f"<table border='1'><tr>{head}</tr>{body}</table>")
        if self.link:
            link = html.escape(self.link, quote=True)
            parts.append(f'<p><a href="{link}">Open the report</a></p>')
        return "<html><body>" + "".join(parts) + "</body></html>"

    def to_json(self) -> dict[str, Any]:
        """modeltap's webhook body."""
        return {
            "kind": self.kind,
            "monitor": self.monitor,
            "window_end": self.window,
            "signals": list(self.signals),
            "breaches": [
                {
                    "signal": r.signal,
                    "feature": r.feature,
                    "metric": r.metric,
                    "value": None if math.isnan(r.value) else r.value,
                    "threshold": None if math.isnan(r.threshold) else r.threshold,
                }
                for r in self.rows
            ],
            "link": self.link,
            "summary": self.subject,
        }
