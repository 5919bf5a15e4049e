"""What a read follows: only the ``dataref`` paths modeltap writes, inside the collection and
under a size cap; manifest roots only inside their destination unless opted in."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

import modeltap
from modeltap.catalog import Catalog, DataAsset
from modeltap.reading import sources
from tests.reading.test_collection import DAY, partition, record, write_jsonl


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """A destination with one collection folder holding a payload file."""
    root = tmp_path / "dest" / "ep" / "dep" / "request"
    payloads = partition(root, DAY) / "_payloads"
    payloads.mkdir(parents=True)
    (payloads / "ok.json").write_bytes(orjson.dumps({"body": 1}))
    return root


@pytest.mark.parametrize(
    "ref",
    [
        "/etc/hostname",
        "file:///etc/hostname",
        "http://127.0.0.1:9/x.json",
        "/dev/zero",
        "../../../outside/_payloads/x.json",
        "2024/05/01/00/_payloads/../../../../../../secret.json",
        "2024/05/01/00/other.json",
        "C:/x/_payloads/y.json",
        "2024\\05\\_payloads\\x.json",
    ],
)
def test_references_modeltap_does_not_write_are_refused(collection: Path, ref: str) -> None:
    """Absolute paths, URLs, devices, escapes and paths outside ``_payloads`` are never
    opened: the record is skipped and named."""
    (collection.parent / "outside" / "_payloads").mkdir(parents=True)
    (collection.parent / "outside" / "_payloads" / "x.json").write_bytes(b'"leak"')
    good = record(DAY, None, dataref="2024/05/01/00/_payloads/ok.json")
    planted = record(DAY, None, dataref=ref)
    write_jsonl(collection, DAY, [good, planted], "a.jsonl")
    with pytest.warns(modeltap.SkippedRecordsWarning, match="dataref"):
        frame = modeltap.read(collection)
    assert frame["data"].tolist() == [{"body": 1}]


def test_a_link_out_of_the_collection_is_refused(collection: Path, tmp_path: Path) -> None:
    """A planted symlink in ``_payloads`` that leads out of the collection is not followed."""
    secret = tmp_path / "secret.json"
    secret.write_bytes(b'"secret"')
    os.symlink(secret, partition(collection, DAY) / "_payloads" / "link.json")
    planted = record(DAY, None, dataref="2024/05/01/00/_payloads/link.json")
    write_jsonl(collection, DAY, [planted], "a.jsonl")
    with pytest.raises(modeltap.BadRecordError, match="not a file of the collection"):
        modeltap.read(collection, on_bad_record="raise")


def test_an_oversized_payload_is_refused(
    collection: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload larger than MAX_DATAREF_BYTES is skipped, not loaded."""
    monkeypatch.setattr(sources, "MAX_DATAREF_BYTES", 4)
    write_jsonl(
        collection, DAY, [record(DAY, None, dataref="2024/05/01/00/_payloads/ok.json")], "a.jsonl"
    )
    with pytest.raises(modeltap.BadRecordError, match="more than the 4"):
        modeltap.read(collection, on_bad_record="raise")


def test_references_resolve_from_a_partition_folder(collection: Path) -> None:
    """Read from a partition folder, a collection-relative reference still resolves."""
    write_jsonl(
        collection, DAY, [record(DAY, None, dataref="2024/05/01/00/_payloads/ok.json")], "a.jsonl"
    )
    frame = modeltap.read(partition(collection, DAY))
    assert frame["data"].tolist() == [{"body": 1}]


def test_a_manifest_root_outside_the_destination_needs_an_opt_in(tmp_path: Path) -> None:
    """A manifest pointing outside its destination is refused unless allow_external_root."""
    outside = tmp_path / "elsewhere"
    write_jsonl(outside, DAY, [record(DAY, [{"v": 1}])], "a.jsonl")
    dest = tmp_path / "dest"
    Catalog(str(dest)).register(DataAsset(name="planted", version="1", root=str(outside)))
    with pytest.raises(modeltap.StoreError, match="allow_external_root=True"):
        modeltap.read("planted", destination=str(dest))
    frame = modeltap.read("planted", destination=str(dest), allow_external_root=True)
    assert frame["v"].tolist() == [1]
    inside = dest / "ep" / "c"
    write_jsonl(inside, DAY, [record(DAY, [{"v": 2}])], "a.jsonl")
    Catalog(str(dest)).register(DataAsset(name="mine", version="1", root=str(inside)))
    assert modeltap.read("mine", destination=str(dest))["v"].tolist() == [2]
