"""Reading collected data back: one row per data row, over a time window, from any store.

``read(asset_or_path, start, end, columns)`` walks the partition folders
(``{yyyy}/{MM}/{dd}/{HH}[/{mm}]``, see ``modeltap.store.layout``) and descends only into those
that overlap the window, so files outside it are never opened (``sources``); each file is
decoded by its format (``modeltap.formats``), and the rows of all files are united, with the
duplicates that at-least-once delivery can leave (the same event ``id`` twice) removed, the
first copy kept (``combine``). Only committed files are seen: ``*.part``, hidden and
``_``-prefixed entries (``_assets``, ``.modeltap``) are ignored.

Columns: ``correlationid``, ``xrequestid``, ``time`` (UTC), ``row_index``, then the data's own
columns, then any extra record fields (payload metadata such as ``method`` or ``status``). A
data column whose name collides with one of the four is renamed ``data_<name>``. For payload
collections (``request``, ``response``) each event is one row and ``data`` holds the body (a
JSON string in Arrow, parsed in pandas). ``read_spark`` reads a collection with Spark.
"""

from modeltap.formats.rows import ENVELOPE_COLUMNS
from modeltap.reading.collection import read, read_arrow, scan
from modeltap.reading.pairing import JOIN_KEY, join
from modeltap.reading.sources import MAX_DATAREF_BYTES
from modeltap.reading.spark import read_spark
from modeltap.reading.window import TimeLike

__all__ = [
    "ENVELOPE_COLUMNS",
    "JOIN_KEY",
    "MAX_DATAREF_BYTES",
    "TimeLike",
    "join",
    "read",
    "read_arrow",
    "read_spark",
    "scan",
]
