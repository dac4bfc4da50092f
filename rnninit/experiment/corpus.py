"""Text for the ``char`` task: a user's file (``task.path``) or a built-in corpus.

The built-in corpus is real English that every Python install carries offline: the docstrings
of the standard library's pure-Python modules, read with ``ast`` (never imported: some modules
have side effects on import), filtered to printable ASCII plus newline, and cached after the
first build. Experiment layer: reads and writes files, never prints.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import RnnInitError
from ..fileio import atomic_write_text

CORPUS_MAX_CHARS = 1_000_000
# Bump when the build below changes, so stale caches are not reused.
_CORPUS_VERSION = 1
# Folders of the standard library that hold tests, tools, bundled wheels or third-party code.
_SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "site-packages",
        "dist-packages",
        "lib2to3",
        "turtledemo",
        "ensurepip",
        "__pycache__",
        "lib-dynload",
        "pydoc_data",
    }
)
_KEEP = frozenset(chr(c) for c in range(0x20, 0x7F)) | {"\n"}


def read_user_file(path, where: str, expected: str) -> bytes:
    """The bytes of a file the user named, or one RnnInitError line saying why not."""
    p = Path(path)
    if not p.exists():
        raise RnnInitError(f"{where}: no such file")
    if p.is_dir():
        raise RnnInitError(f"{where}: is a directory, expected {expected}")
    try:
        return p.read_bytes()
    except OSError as e:
        raise RnnInitError(f"{where}: cannot be read ({e.strerror or e})") from None


def load_text(path: str | os.PathLike) -> str:
    """Read a UTF-8 text file for the ``char`` task.

    A leading byte-order mark is dropped; line endings are kept as they are.

    Args:
        path: the file (``task.path``).

    Returns:
        The file's text.

    Raises:
        RnnInitError: one line naming ``task.path`` and the path, when the file is missing, is a
            directory, cannot be read, is empty, is binary (contains NUL bytes) or is not valid
            UTF-8 (with the byte offset).
    """
    where = f"task.path: {str(path)!r}"
    data = read_user_file(path, where, "a UTF-8 text file")
    if not data:
        raise RnnInitError(f"{where}: the file is empty, expected UTF-8 text")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise RnnInitError(
            f"{where}: looks binary (NUL byte at offset {nul:,}), expected a UTF-8 text file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RnnInitError(
            f"{where}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start:,}: {e.reason})"
        ) from None
    return text.removeprefix("\ufeff")


def _stdlib_sources() -> list[Path]:
    """The standard library's .py files in a fixed (sorted) order, skipping tests and tools."""
    root = Path(os.__file__).resolve().parent
    files = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("config-")]
        files.extend(Path(folder) / f for f in filenames if f.endswith(".py"))
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def _docstrings(node: ast.AST) -> Iterator[str]:
    """Module, class and function docstrings in source order (depth first)."""
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        doc = ast.get_docstring(node)
        if doc:
            yield doc
    # Docstrings only sit in statement bodies, so skip expressions (most of the tree).
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(node, field, ()):
            if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
                yield from _docstrings(child)


def _build_stdlib_docstrings(max_chars: int = CORPUS_MAX_CHARS) -> str:
    """Join the stdlib's docstrings (printable ASCII + newline, exact repeats dropped)."""
    parts: list[str] = []
    seen: set[str] = set()
    total = 0
    for source in _stdlib_sources():
        try:
            tree = ast.parse(source.read_bytes(), filename=str(source))
        except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
            continue  # a few files are deliberately unparsable (bad-syntax fixtures)
        for doc in _docstrings(tree):
            clean = "".join(c for c in doc if c in _KEEP).strip()
            if not clean or clean in seen:
                continue
            seen.add(clean)
            parts.append(clean)
            total += len(clean) + 2
            if total >= max_chars:
                return "\n\n".join(parts)[:max_chars]
    return "\n\n".join(parts)


def cache_dir() -> Path:
    """Where the built-in corpus is cached: $RNNINIT_CACHE, $XDG_CACHE_HOME/rnninit or
    ~/.cache/rnninit (first one set)."""
    if os.environ.get("RNNINIT_CACHE"):
        return Path(os.environ["RNNINIT_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "rnninit"
    return Path.home() / ".cache" / "rnninit"


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def cache_path() -> Path:
    """The cache file of the built-in corpus for this Python version."""
    return cache_dir() / f"stdlib-docstrings-v{_CORPUS_VERSION}-py{_python_version()}.txt"


def builtin_corpus() -> str:
    """The built-in corpus: docstrings of the Python standard library, cached after one build.

    Built by walking the folder of ``os.__file__`` in sorted order (skipping tests, idlelib,
    site-packages and similar), parsing each file with ``ast`` without importing it, and joining
    module, class and function docstrings with blank lines, kept to printable ASCII plus newline
    and capped at ``CORPUS_MAX_CHARS``. The result is cached in ``cache_path()`` (written
    atomically); when the cache cannot be written, the text is returned anyway.

    Returns:
        The corpus text (deterministic for a given Python installation).
    """
    path = cache_path()
    try:
        text = path.read_bytes().decode("ascii")
        if text:
            return text
    except (OSError, UnicodeDecodeError):
        pass
    text = _build_stdlib_docstrings()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)  # ASCII: the same bytes as UTF-8
    except OSError:
        pass  # a read-only or missing home: the corpus still works, just uncached
    return text


def corpus_fingerprint(text: str) -> str:
    """The first 16 hex digits of the SHA-256 of the text's UTF-8 bytes (recorded with runs)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def task_text(path: str | None) -> tuple[str, str]:
    """The text for the ``char`` task and a one-line description of where it came from.

    Args:
        path: ``task.path``, or None for the built-in corpus.

    Returns:
        ``(text, description)``, e.g. ``"data/shakespeare.txt (1,115,394 chars)"`` or
        ``"stdlib docstrings (Python 3.11, 1,000,000 chars)"``.

    Raises:
        RnnInitError: the file cannot be used (see ``load_text``).
    """
    if path:
        text = load_text(path)
        return text, f"{path} ({len(text):,} chars)"
    text = builtin_corpus()
    return text, f"stdlib docstrings (Python {_python_version()}, {len(text):,} chars)"
