"""The pages whose fenced blocks the docs tests run, their blocks and their shell commands."""

from __future__ import annotations

import codecs
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

__all__ = [
    "IN_PROCESS",
    "LONG_RUNNING",
    "NOT_RUN_LANGUAGES",
    "NOT_RUN_PROGRAMS",
    "PAGES",
    "ROOT",
    "RUN",
    "Snippet",
    "commands",
    "documented_commands",
    "logical_lines",
    "not_run_reason",
    "snippets",
    "split_line",
    "subcommand",
]

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
NOT_RUN_LANGUAGES = frozenset({"text"})
_DIRECTIVE = re.compile(r"<!--\s*snippet:\s*(skip|needs|parse)\s+(.+?)\s*-->", re.DOTALL)

NOT_RUN_PROGRAMS = {
    "pip": "installs packages (the test environment is installed)",
    ".": "activates a virtual environment",
    "make": "the set-up targets (the whole suite, the demo)",
    "apt-get": "installs system packages",
    "git": "fetches a repository",
    "echo": "prints the status of the command before it",
}
"""Programs of ``sh`` blocks that are not run, and why (see also ``not_run_reason``)."""

IN_PROCESS = {
    "data": frozenset({0}),
    "monitor run": frozenset({0, 3}),
    "monitor history": frozenset({0}),
    "monitor list": frozenset({0}),
    "monitor report": frozenset({0}),
    "monitor status": frozenset({0}),
}
"""``modeltap`` commands run in this process, and the exit statuses that mean they ran."""

LONG_RUNNING = {
    "serve": ("--port", 5001, "/ready"),
    "ingest": ("--port", 50011, "/ready"),
    "ui": ("--port", 8765, "/healthz"),
    "monitor schedule": ("--metrics-port", 9465, "/metrics"),
}
"""``modeltap`` commands run as processes: their port option, default port and readiness probe."""


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


_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")


def logical_lines(script: str) -> list[str]:
    """The lines of a shell block with continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def split_line(line: str) -> list[list[str]]:
    """The commands of one line: comments dropped, split at ``&&``, ``||``, ``;`` and ``|``;
    ``$'...'`` strings decoded as bash does."""
    line = _ANSI_C.sub(
        lambda m: shlex.quote(codecs.decode(m.group(1), "unicode_escape")), line
    )
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = []
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


def commands(script: str) -> list[list[str]]:
    """The commands of a shell block: continuations joined, comments dropped, split at
    ``&&``, ``||``, ``;`` and ``|``."""
    return [argv for line in logical_lines(script) for argv in split_line(line)]


def documented_commands(script: str) -> list[tuple[list[str], str]]:
    """Each command of a shell block with the output documented after it: the ``# ...`` lines
    that follow its line."""
    found: list[tuple[list[str], list[str]]] = []
    for line in logical_lines(script):
        stripped = line.strip()
        if stripped.startswith("#"):
            if found:
                found[-1][1].append(stripped[1:].strip())
            continue
        for argv in split_line(line):
            found.append((argv, []))
    return [(argv, "\n".join(notes)) for argv, notes in found]


def subcommand(argv: list[str]) -> str:
    """``serve``, ``monitor run``, ...: the subcommand of a ``modeltap`` command."""
    if argv[1:2] == ["monitor"] and len(argv) > 2:
        return f"monitor {argv[2]}"
    return argv[1] if len(argv) > 1 else ""


def not_run_reason(argv: list[str]) -> str | None:
    """Why a command of a shell block is not run (None: it runs)."""
    program = argv[0]
    if program in NOT_RUN_PROGRAMS:
        return NOT_RUN_PROGRAMS[program]
    if program in ("python", "python3"):
        if argv[1:3] == ["-m", "venv"]:
            return "creates a virtual environment"
        if len(argv) > 1 and argv[1].startswith("bench/"):
            return "a benchmark: minutes at its documented sizes (results in bench/results/)"
    return None
