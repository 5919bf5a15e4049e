"""Tests of the documentation: every snippet runs."""
