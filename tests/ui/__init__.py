"""Tests of modeltap.ui."""
