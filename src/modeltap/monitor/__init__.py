"""Model monitoring on collected data: drift, data quality and model performance against a
reference, in the platform's monitor shape.

    import modeltap.monitor
    definition = modeltap.monitor.load("monitor.yaml")
"""

from __future__ import annotations

from modeltap.monitor.definition import MonitorDefinition, load

__all__ = ["MonitorDefinition", "load"]
