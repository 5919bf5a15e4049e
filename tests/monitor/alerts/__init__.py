"""Tests of modeltap.monitor.alerts."""
