"""Tests of modeltap.snapshot, one module per snapshot module."""
