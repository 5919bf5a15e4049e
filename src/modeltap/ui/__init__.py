"""The read-only web UI over the store (``modeltap ui``)."""
