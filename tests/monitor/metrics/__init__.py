"""Tests of the monitor metrics."""
