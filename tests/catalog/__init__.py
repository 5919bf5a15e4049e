"""Tests of the data-asset catalog."""
