"""The one atomic writer: a temp file in the target's folder, renamed over the target.

A reader (or a crash) never sees half a file. Standard library only and nothing of the
package, so that every layer writes files the same way (run folders, plots, the corpus cache).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _create_temp(path: Path) -> tuple[int, Path]:
    """A fresh temp file beside `path`, with the permissions an ordinary open() would give it.

    Mode 0o666 less the current umask (tempfile.mkstemp would make 0600, and run folders are
    meant to be shared); a random name, so concurrent writers never share a temp file.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temp file name for {path.name}")


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Call write(file_object) on a binary temp file in path's folder, then rename it over path.

    The data is flushed and fsynced before the rename; on any error (or an interrupt) the temp
    file is removed and the target is left as it was.
    """
    path = Path(path)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically (see atomic_write_bytes)."""
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))
