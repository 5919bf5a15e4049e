"""Tests of modeltap."""
