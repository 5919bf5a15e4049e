"""Model monitoring on collected data: drift, data quality and model performance against a
reference, in the platform's monitor shape::

    import modeltap.monitor

    result = modeltap.monitor.run("monitor.yaml")
    if result.breached:
        print(result.metrics[result.metrics["breached"]])
    modeltap.monitor.history("credit-monitor")
"""

from __future__ import annotations

from modeltap.monitor.definition import MonitorDefinition, load
from modeltap.monitor.runner import MonitorRun, history, list_monitors, run

__all__ = ["MonitorDefinition", "MonitorRun", "history", "list_monitors", "load", "run"]
