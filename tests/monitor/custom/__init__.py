"""Tests of custom signals."""
