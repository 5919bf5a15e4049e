"""Tests of modeltap.report."""
