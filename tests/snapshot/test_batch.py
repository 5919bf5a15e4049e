"""Small frames of one schema encoded together, like each alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modeltap.snapshot import json_rows_many, take_snapshot
from tests.snapshot.conftest import decoded, mixed_frame, round_trip


@pytest.mark.usefixtures("string_storage")
def test_tiny_frames_encode_together_like_alone() -> None:
    """Tiny frames converted together (strings as Python values) give each its own rows."""
    snapshots = [take_snapshot(mixed_frame(n)) for n in (1, 2, 3, 1)]
    unpacked = [round_trip(s) for s in snapshots]
    assert json_rows_many(unpacked) == [s.to_json_rows() for s in snapshots]
    assert decoded(snapshots[2])[0] == {"f": 0.0, "i": 0, "s": None, "t": "w0"}


def test_small_pandas_frames_encode_without_importing_polars() -> None:
    """A small frame's rows never import polars, whose import holds the GIL for about a second."""
    code = (
        "import sys, pandas as pd\n"
        "from modeltap.snapshot import json_rows_many, take_snapshot\n"
        "frame = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\n"
        "other = pd.DataFrame({'c': [0.5]})\n"
        "print(take_snapshot(frame).to_json_rows().decode())\n"
        "json_rows_many([take_snapshot(frame), take_snapshot(other), take_snapshot(frame)])\n"
        "print('polars' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ['[{"a":1,"b":"x"},{"a":2,"b":"y"}]', "False"]
