"""Out-of-line payloads resolved by hand follow the reader's dataref rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeltap.errors import BadRecordError
from modeltap.reading import sources
from modeltap.snapshot.blobs import resolve_dataref


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """A collection folder with one out-of-line payload where modeltap writes them."""
    root = tmp_path / "request"
    blob = root / "2026" / "12" / "06" / "18" / "_payloads" / "id-1.json"
    blob.parent.mkdir(parents=True)
    blob.write_text(json.dumps({"rows": [1, 2, 3]}), encoding="utf-8")
    (tmp_path / "secret.json").write_text('{"key": "s3cr3t"}', encoding="utf-8")
    return root


def test_inline_data_and_a_written_reference(collection: Path) -> None:
    """Inline data is returned as is; the reference modeltap writes is read and parsed."""
    assert resolve_dataref({"data": {"a": 1}}, str(collection)) == {"a": 1}
    record = {"data": None, "dataref": "2026/12/06/18/_payloads/id-1.json"}
    assert resolve_dataref(record, str(collection)) == {"rows": [1, 2, 3]}


@pytest.mark.parametrize(
    "reference",
    [
        "SECRET",  # replaced by the absolute path of a file outside the collection
        "file://SECRET",
        "../secret.json",
        "2026/12/06/18/_payloads/../../../../../../secret.json",
        "/dev/zero",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_references_modeltap_does_not_write_are_refused(
    collection: Path, reference: str
) -> None:
    """Absolute paths, URLs and escapes from the collection raise BadRecordError unread."""
    planted = reference.replace("SECRET", str(collection.parent / "secret.json"))
    with pytest.raises(BadRecordError, match="dataref"):
        resolve_dataref({"data": None, "dataref": planted}, str(collection))


def test_a_payload_over_the_cap_is_refused(
    collection: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload file larger than the reader's cap is not read."""
    monkeypatch.setattr(sources, "MAX_DATAREF_BYTES", 10)
    record = {"data": None, "dataref": "2026/12/06/18/_payloads/id-1.json"}
    with pytest.raises(BadRecordError, match="more than the 10"):
        resolve_dataref(record, str(collection))
