"""The catalog: registration, merging, versions, lookups, concurrency, and the pipeline hook."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import modeltap
from modeltap.catalog import (
    AssetNotFoundError,
    Catalog,
    DataAsset,
    get_asset,
    list_assets,
    register_asset,
)
from modeltap.catalog.model import merge_columns, merge_types
from modeltap.errors import StoreError
from tests.conftest import ConfigureTap


def asset(root: str = "/data/ep/dep/c", **changes: object) -> DataAsset:
    """A data asset with a few defaults."""
    base = DataAsset(name="ep-dep-c", version="1", root=root, collection="c")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_merge_types_and_columns_keep_everything() -> None:
    """Type unions are sorted and idempotent; columns of both sides survive."""
    assert merge_types("int64", "int64") == "int64"
    assert merge_types("int64", "double") == "double|int64"
    assert merge_types("double|int64", "int64") == "double|int64"
    assert merge_types("null", "string") == "string"
    merged = merge_columns({"a": "int64", "b": "string"}, {"b": "string", "c": "bool"})
    assert merged == {"a": "int64", "b": "string", "c": "bool"}


def test_asset_merge_is_commutative_and_keeps_extremes() -> None:
    """Merging in either order gives the same asset: earliest first time, latest last time."""
    one = asset(columns={"a": "int64"}, first_event_time="2024-01-02", last_event_time="2024-01-03")
    two = asset(
        columns={"b": "string"}, first_event_time="2024-01-01", last_event_time="2024-01-02"
    )
    assert one.merge(two) == two.merge(one)
    merged = one.merge(two)
    assert merged.columns.keys() == {"a", "b"}
    assert (merged.first_event_time, merged.last_event_time) == ("2024-01-01", "2024-01-03")
    assert merged.merge(merged) == merged


def test_register_is_idempotent_and_reuses_an_existing_asset(tmp_path: Path) -> None:
    """A second registration reuses the first manifest (root and created stay)."""
    catalog = Catalog(str(tmp_path))
    first = catalog.register(asset(created="2024-01-01T00:00:00.000Z"))
    again = catalog.register(asset(root="/elsewhere", created="2024-06-01T00:00:00.000Z"))
    assert again.root == first.root == "/data/ep/dep/c"
    assert again.created == "2024-01-01T00:00:00.000Z"
    assert [a.ref for a in catalog.list()] == ["ep-dep-c:1"]
    assert (tmp_path / "_assets" / "ep-dep-c" / "1.json").is_file()


def test_contributions_of_writers_are_merged(tmp_path: Path) -> None:
    """Each writer's contribution counts; a writer rewriting its own part loses nothing."""
    catalog = Catalog(str(tmp_path))
    catalog.register(asset())
    catalog.contribute(asset(columns={"a": "int64"}, last_event_time="2024-01-01"), "w1")
    catalog.contribute(asset(columns={"b": "double"}, first_event_time="2023-12-31"), "w2")
    catalog.contribute(
        asset(columns={"a": "int64", "c": "string"}, last_event_time="2024-01-05"), "w1"
    )
    got = catalog.get("ep-dep-c")
    assert got.columns == {"a": "int64", "c": "string", "b": "double"}
    assert got.first_event_time == "2023-12-31"
    assert got.last_event_time == "2024-01-05"


def test_versions_sort_numerically_and_latest_wins(tmp_path: Path) -> None:
    """NAME resolves to the highest version; NAME:VERSION to that one."""
    catalog = Catalog(str(tmp_path))
    for version in ("1", "10", "2"):
        catalog.register(asset(version=version, root=f"/r{version}"))
    assert catalog.versions("ep-dep-c") == ["1", "2", "10"]
    assert catalog.resolve("ep-dep-c").root == "/r10"
    assert catalog.resolve("ep-dep-c:2").root == "/r2"


def test_unknown_assets_say_what_exists(tmp_path: Path) -> None:
    """Lookups of absent names or versions raise AssetNotFoundError naming what there is."""
    catalog = Catalog(str(tmp_path))
    with pytest.raises(AssetNotFoundError, match="no data assets yet"):
        catalog.resolve("nope")
    catalog.register(asset())
    with pytest.raises(AssetNotFoundError, match="known assets: ep-dep-c"):
        catalog.resolve("nope")
    with pytest.raises(AssetNotFoundError, match="versions of ep-dep-c: 1"):
        catalog.resolve("ep-dep-c:7")
    with pytest.raises(AssetNotFoundError, match="not a data asset reference"):
        catalog.resolve("bad name!")


def test_damaged_manifest_is_a_store_error(tmp_path: Path) -> None:
    """A manifest that is not JSON gives a StoreError, not a crash."""
    catalog = Catalog(str(tmp_path))
    catalog.register(asset())
    (tmp_path / "_assets" / "ep-dep-c" / "1.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged"):
        catalog.get("ep-dep-c", "1")


def test_catalog_on_an_fsspec_store() -> None:
    """The same catalog works on memory:// through fsspec."""
    import fsspec

    url = "memory://catalogtest"
    try:
        register_asset(asset(columns={"a": "int64"}), destination=url)
        register_asset(asset(columns={"b": "string"}), destination=url)
        got = get_asset("ep-dep-c:1", destination=url)
        assert got.columns == {"a": "int64", "b": "string"}
        assert [a.ref for a in list_assets(url)] == ["ep-dep-c:1"]
    finally:
        fsspec.filesystem("memory").rm("/catalogtest", recursive=True)


def _register_many(destination: str, writer: int) -> None:
    catalog = Catalog(destination)
    for step in range(15):
        seen = {f"w{writer}_c{i}": "int64" for i in range(step + 1)}
        update = asset(
            columns=seen,
            first_event_time=f"2024-01-01T00:00:{60 - writer - step:02d}.000Z",
            last_event_time=f"2024-01-02T00:00:{writer + step:02d}.000Z",
        )
        catalog.register(update, writer=f"writer-{writer}")


def test_many_processes_register_at_once_without_losing_anything(tmp_path: Path) -> None:
    """Four processes registering the same asset together: one manifest, every column, the
    extreme times of all of them."""
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_register_many, args=(str(tmp_path), n)) for n in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    got = Catalog(str(tmp_path)).get("ep-dep-c")
    assert len(got.columns) == 4 * 15
    assert got.first_event_time == "2024-01-01T00:00:43.000Z"
    assert got.last_event_time == "2024-01-02T00:00:17.000Z"
    assert [a.ref for a in Catalog(str(tmp_path)).list()] == ["ep-dep-c:1"]
    leftovers = [p.name for p in (tmp_path / "_assets").rglob("*.tmp")]
    assert leftovers == []


def test_pipeline_registers_collections_with_columns_and_times(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """Collections register as {endpoint}-{deployment}-{collection} or their data.name/version,
    with columns, types and event times; the asset resolves for read()."""
    configure_tap(
        collections={
            "model_inputs": {"enabled": True},
            "model_outputs": {"enabled": True, "data": {"name": "preds", "version": 3}},
        }
    )
    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    context = inputs.collect(pd.DataFrame({"x": [1, 2], "name": ["a", "b"]}))
    outputs.collect([{"p": 0.5}, {"p": 0.25}], context)
    inputs.collect(pd.DataFrame({"x": [3], "extra": [True]}))
    assert modeltap.flush(timeout=30)
    assets = {a.ref: a for a in list_assets(str(data_dir))}
    assert set(assets) == {"ep-dep-model_inputs:1", "preds:3"}
    ins = assets["ep-dep-model_inputs:1"]
    assert ins.columns == {"x": "int64", "name": "string", "extra": "bool"}
    assert ins.root == f"{data_dir}/ep/dep/model_inputs"
    assert ins.format == "jsonl"
    assert ins.first_event_time is not None and ins.last_event_time is not None
    assert ins.first_event_time <= ins.last_event_time
    assert assets["preds:3"].columns == {"p": "double"}
    frame = modeltap.read("preds", destination=str(data_dir))
    assert frame["p"].tolist() == [0.5, 0.25]


def test_a_failing_catalog_never_fails_the_commit(
    configure_tap: ConfigureTap, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When the manifest cannot be written the data is still committed, and a warning says so."""
    data_dir.mkdir(parents=True)
    (data_dir / "_assets").write_text("not a folder")
    configure_tap()
    modeltap.Collector(name="model_inputs").collect(pd.DataFrame({"x": [1]}))
    assert modeltap.flush(timeout=30)
    assert modeltap.read(data_dir / "ep" / "dep" / "model_inputs")["x"].tolist() == [1]
    assert "registering data asset ep-dep-model_inputs:1 failed" in caplog.text
    assert modeltap.stats().collections["model_inputs"].files_committed >= 1
