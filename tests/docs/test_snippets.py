"""Every fenced code block of the README, the docs and the benchmark pages runs as written.

Each page runs in a temporary folder (its working directory, with ``MODELTAP_DATA_DIR`` pointing
at ``modeltap-data`` inside it and ``examples/score.py`` beside it), seeded with a small tree
that modeltap wrote: ``model_inputs`` in JSON lines and then in Parquet, with an integer column
that became float and a column added later, and ``model_outputs``. Then, in page order:

- ``python`` blocks run in one namespace per page;
- ``yaml`` blocks are loaded as deployments by modeltap's configuration loader;
- ``sql`` blocks run in DuckDB and must return rows; ``json`` blocks must parse;
- ``sh`` blocks: ``modeltap data ...`` commands run and must exit 0, other ``modeltap`` commands
  must parse; other programs (``pip``, ``curl``, ``make``, ``python``) are not run;
- ``text`` blocks (output, layouts) are not run.

A block preceded by ``<!-- snippet: skip REASON -->`` is not run; one preceded by
``<!-- snippet: needs MODULE (REASON) -->`` runs only where MODULE can be imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from markdown_it import MarkdownIt

import modeltap
from modeltap.cli import build_parser
from modeltap.cli import main as cli_main
from modeltap.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "bench" / "results").glob("*.md"),
    ]
)
RUN = frozenset({"python", "yaml", "sql", "json", "sh"})
NOT_RUN = frozenset({"text"})
_DIRECTIVE = re.compile(r"<!--\s*snippet:\s*(skip|needs)\s+(.+?)\s*-->", re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    """One fenced block: where it is, its language, its code and any directive before it."""

    page: Path
    line: int
    language: str
    code: str
    directive: tuple[str, str] | None

    @property
    def where(self) -> str:
        """``page:line`` for messages."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    """The fenced blocks of a Markdown page, in order."""
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    found: list[Snippet] = []
    directive: tuple[str, str] | None = None
    for token in tokens:
        if token.type == "html_block":
            match = _DIRECTIVE.search(token.content)
            directive = (match.group(1), match.group(2)) if match else None
            continue
        if token.type == "fence":
            language = token.info.split()[0] if token.info.strip() else ""
            line = (token.map[0] + 1) if token.map else 0
            found.append(Snippet(page, line, language, token.content, directive))
        directive = None
    return found


def _seed() -> None:
    """The tree every page starts from: what modeltap writes with its defaults, then Parquet."""
    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    context = inputs.collect(pd.DataFrame({"age": [41, 63], "income": [60, 88]}))
    outputs.collect(pd.DataFrame({"prediction": [1, 0]}), context)
    assert modeltap.flush(timeout=60)
    modeltap.configure({"format": "parquet"})
    inputs.collect(pd.DataFrame({"age": [19], "income": [12]}))
    assert modeltap.flush(timeout=60)
    inputs.collect(pd.DataFrame({"age": [27], "income": [33.5], "debt_ratio": [0.4]}))
    assert modeltap.flush(timeout=60)
    modeltap.shutdown(timeout=60)
    modeltap.configure({})


def _commands(script: str) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments dropped, split at
    ``&&``, ``||``, ``;`` and ``|``."""
    commands: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for word in lexer:
            if word and set(word) <= set(";&|"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
        if current:
            commands.append(current)
    return commands


def _run_shell(snippet: Snippet) -> int:
    """Run or parse the ``modeltap`` commands of a shell block; returns how many there were."""
    count = 0
    for argv in _commands(snippet.code):
        if argv[0] != "modeltap":
            continue
        count += 1
        if argv[1:2] == ["data"]:
            with contextlib.redirect_stdout(io.StringIO()):
                status = cli_main(argv[1:])
            assert status == 0, f"{snippet.where}: {shlex.join(argv)} exited with {status}"
        else:
            try:
                build_parser().parse_args(argv[1:])
            except SystemExit as exc:
                raise AssertionError(f"{snippet.where}: {shlex.join(argv)} does not parse") from exc
    return count


def _run_yaml(snippet: Snippet, folder: Path) -> None:
    """Load a YAML block as a deployment and check that its collections came through."""
    document = yaml.safe_load(snippet.code)
    assert isinstance(document, dict), f"{snippet.where}: not a mapping"
    path = folder / "snippet-deployment.yaml"
    path.write_text(snippet.code, encoding="utf-8")
    settings = load_settings(path)
    section = document.get("data_collector", {})
    if "collections" in section:
        assert settings.collector.collections is not None
        assert sorted(settings.collector.collections) == sorted(section["collections"])


def run_page(page: Path, folder: Path, *, optional: bool = False) -> int:
    """Run the blocks of ``page`` in ``folder``: without ``optional`` every block without a
    directive, with it only the ``needs`` blocks whose module is installed (these start engines
    such as Spark). Returns how many blocks ran."""
    namespace: dict[str, object] = {"__name__": "__snippets__"}
    ran = 0
    for snippet in snippets(page):
        if snippet.language not in RUN:
            continue
        if snippet.directive is None:
            if optional:
                continue
        else:
            kind, argument = snippet.directive
            if kind == "skip" or not optional:
                continue
            if importlib.util.find_spec(argument.split()[0]) is None:
                continue
        if snippet.language == "python":
            exec(compile(snippet.code, snippet.where, "exec"), namespace)
        elif snippet.language == "yaml":
            _run_yaml(snippet, folder)
        elif snippet.language == "sql":
            rows = duckdb.connect().execute(snippet.code).fetchall()
            assert rows, f"{snippet.where}: the query returned no rows"
        elif snippet.language == "json":
            json.loads(snippet.code)
        elif snippet.language == "sh" and _run_shell(snippet) == 0:
            continue
        ran += 1
    return ran


def _runnable(page: Path) -> bool:
    """Whether the page has a block that runs (a shell block counts if it runs modeltap)."""
    return any(
        s.language in RUN - {"sh"}
        or (s.language == "sh" and any(c[0] == "modeltap" for c in _commands(s.code)))
        for s in snippets(page)
    )


def _prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's folder: working directory, data dir, ``score.py`` importable, a seeded tree."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(tmp_path / "modeltap-data"))
    shutil.copy(ROOT / "examples" / "score.py", tmp_path / "score.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "score", raising=False)
    modeltap.configure({})
    _seed()


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _runnable(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_snippets_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable block of the page runs, in order, against a seeded tree."""
    _prepare(tmp_path, monkeypatch)
    try:
        assert run_page(page, tmp_path) > 0
    finally:
        sys.modules.pop("score", None)


_OPTIONAL = [
    (page, snippet.directive[1].split()[0])
    for page in PAGES
    for snippet in snippets(page)
    if snippet.directive is not None and snippet.directive[0] == "needs"
]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("page", "module"), sorted(set(_OPTIONAL)), ids=lambda v: str(v).rsplit("/", 1)[-1]
)
def test_optional_snippets_run(page: Path, module: str, tmp_path: Path) -> None:
    """Blocks that need an optional engine (e.g. Spark) run where it is installed.

    Each page runs in a Python process of its own, started in the page's folder: an engine
    started earlier in this process (Spark's JVM, by tests/compat) keeps the working directory
    it started in and would resolve the snippets' relative paths against it."""
    pytest.importorskip(module)
    program = (
        "import shutil, sys\n"
        "from pathlib import Path\n"
        "import modeltap\n"
        "from tests.docs.test_snippets import ROOT, _seed, run_page\n"
        "shutil.copy(ROOT / 'examples' / 'score.py', 'score.py')\n"
        "sys.path.insert(0, str(Path.cwd()))\n"
        "modeltap.configure({})\n"
        "_seed()\n"
        f"print(run_page(Path({str(page)!r}), Path.cwd(), optional=True))\n"
    )
    environment = {
        **os.environ,
        "MODELTAP_DATA_DIR": str(tmp_path / "modeltap-data"),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.strip().splitlines()[-1]) > 0


def test_every_block_has_a_known_language() -> None:
    """A block in a language the runner does not know would silently go unchecked."""
    unknown = [
        f"{s.where} ({s.language or 'no language'})"
        for page in PAGES
        for s in snippets(page)
        if s.language not in RUN | NOT_RUN
    ]
    assert not unknown, f"use one of {sorted(RUN | NOT_RUN)}: {unknown}"


def test_directives_give_a_reason() -> None:
    """A skipped block says why, in one line."""
    for page in PAGES:
        for snippet in snippets(page):
            if snippet.directive is not None:
                kind, argument = snippet.directive
                words = argument.split()
                assert len(words) >= (2 if kind == "needs" else 1), snippet.where


def test_shell_commands_split() -> None:
    """Continuations, comments and command separators are handled as a shell would."""
    script = "modeltap data list  # all\nmodeltap serve \\\n  --port 1 && curl -s x | jq .\n"
    assert _commands(script) == [
        ["modeltap", "data", "list"],
        ["modeltap", "serve", "--port", "1"],
        ["curl", "-s", "x"],
        ["jq", "."],
    ]


def test_a_broken_block_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner reports a block that raises, naming the page and line."""
    page = tmp_path / "broken.md"
    page.write_text("# t\n\n```python\nraise ValueError('boom')\n```\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(ValueError, match="boom") as info:
        run_page(page, tmp_path)
    assert any(str(entry.path) == "broken.md:3" for entry in info.traceback)
