"""Tests of modeltap.monitor.schedule."""
