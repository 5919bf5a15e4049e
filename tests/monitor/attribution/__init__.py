"""Tests of feature importances and feature attribution drift."""
