"""Progress of the long stages (feature classifier, training, evaluation, the report), on one output stream.

On a terminal a stage shows a live status line (rewritten in place) while it runs, and one line when it ends.
Elsewhere (CI logs, a file) only the end line is printed, so a log holds one line per stage. ETAs come from
the stage's own elapsed time and progress fraction.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def eta(elapsed: float, fraction: float) -> str:
    """The remaining time at a constant rate, as text (``ETA 12 s``), or empty before any progress."""
    if fraction <= 0 or fraction >= 1:
        return ""
    return f"ETA {_duration(elapsed * (1 - fraction) / fraction)}"


class Stage:
    """One running stage: :meth:`update` its status (shown live on a terminal), then it prints its end line."""

    def __init__(self, name: str, live: bool) -> None:
        self.name, self.live, self.start = name, live, time.perf_counter()
        self.result = ""

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, status: str, fraction: float | None = None) -> None:
        """The current status, with an ETA when ``fraction`` (of the stage done) is given."""
        if not self.live:
            return
        shown = f"{self.name}: {status}" + (f" ({eta(self.elapsed, fraction)})" if fraction else "")
        sys.stdout.write("\r\x1b[2K" + shown[:200])
        sys.stdout.flush()

    def done(self, result: str) -> None:
        """What the end line says after the stage's name and duration."""
        self.result = result


@contextlib.contextmanager
def stage(name: str) -> Iterator[Stage]:
    """A stage that prints ``<name>: <result> (<duration>)`` when it ends (also when it fails: ``failed``)."""
    current = Stage(name, live=sys.stdout.isatty())
    failed = True
    try:
        yield current
        failed = False
    finally:
        if current.live:
            sys.stdout.write("\r\x1b[2K")
        outcome = "failed" if failed else (current.result or "done")
        print(f"{name}: {outcome} ({_duration(current.elapsed)})", flush=True)
