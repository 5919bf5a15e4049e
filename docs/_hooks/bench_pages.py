"""MkDocs hook: publish ``bench/README.md`` and ``bench/results/*.md`` as the site's benchmark
pages (``benchmarks/index.md`` and ``benchmarks/results/*.md``), so the figures live beside the
scripts that measure them and the site links them without a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

BENCH = Path(__file__).resolve().parents[2] / "bench"


def on_files(files: Files, config: Any) -> Files:
    """Add the benchmark pages to the site's files."""
    pages = {"benchmarks/index.md": BENCH / "README.md"}
    for result in sorted((BENCH / "results").glob("*.md")):
        pages[f"benchmarks/results/{result.name}"] = result
    for uri, path in pages.items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
