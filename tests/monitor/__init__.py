"""Tests of modeltap.monitor."""
