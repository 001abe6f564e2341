"""Atomic file writes: a reader (or a process killed mid-write) never sees half a file.

The one place where outputs are written: results files, figure data, the report's files and the cached
feature classifiers all go through :func:`write_bytes_atomic`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MODE = 0o644  # what a plain ``open(..., "w")`` gives under the usual umask; mkstemp would leave 0600


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in the same folder, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
