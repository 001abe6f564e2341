"""One writer per output folder: a lock that names its holder, released when the process ends (even killed)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".aebench.lock"


class OutputLocked(RuntimeError):
    """Another aebench process is writing the same output folder."""


@contextlib.contextmanager
def output_lock(output_dir: Path) -> Iterator[None]:
    """Hold the lock of ``output_dir`` (an ``flock`` on ``.aebench.lock``, which holds the holder's PID).

    The kernel drops an ``flock`` with its process, so a killed benchmark never leaves a stale lock behind.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputLocked(
                f"{output_dir} is being written by another aebench process (PID {holder}); wait for it to finish "
                "or give this one another --output-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_orphans(output_dir: Path) -> list[Path]:
    """Delete the temporary files that a process killed mid-write left (``.<name>.<random>.tmp``); call it
    while holding the lock, when no write of this folder can be in flight."""
    orphans = [p for p in output_dir.rglob(".*.tmp") if p.is_file()]
    for path in orphans:
        path.unlink(missing_ok=True)
    return orphans
