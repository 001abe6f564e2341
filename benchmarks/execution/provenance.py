"""What produced a number: library versions, machine, commit. Stored in every results file and report header."""

from __future__ import annotations

import functools
import platform
import shlex
import subprocess
from importlib import metadata
from pathlib import Path

import torch

#: the name shown (a results file's key) → the distribution it is read from; Lightning comes as `pytorch-lightning`
_PACKAGES = {"aebench": "aebench", "torch": "torch", "torchvision": "torchvision", "lightning": "pytorch-lightning",
             "torchmetrics": "torchmetrics", "scikit-learn": "scikit-learn", "numpy": "numpy"}


@functools.cache
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name, distribution in _PACKAGES.items():
        try:
            out[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def machine() -> dict[str, str | int]:
    import os

    info: dict[str, str | int] = {"cpu": _cpu_model(), "cpu_count": os.cpu_count() or 0, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


@functools.cache
def git_commit() -> str:
    """Commit of the code (``+dirty`` when tracked files outside ``reports/`` have changes), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout
        # the code's state: regenerated reports/ are output, not a change to what produced them
        status = ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports"]
        dirty = subprocess.run(status, cwd=root, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha.strip()[:12] + ("+dirty" if dirty.strip() else "")


def command_line(argv: list[str]) -> str:
    """The ``aebench`` command that was run, from the arguments given to ``benchmarks.cli.main``."""
    return " ".join(["aebench", *(shlex.quote(a) for a in argv)])
