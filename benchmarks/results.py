"""Results files: one JSON per run, written atomically, so an interrupted benchmark resumes by skipping them."""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_json_safe(data), f, indent=1, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def results_path(output_dir: str | Path, run_id: str) -> Path:
    return Path(output_dir) / "results" / f"{run_id}.json"


def load_result(path: Path) -> dict[str, Any] | None:
    """A finished run's results, or None when the file is missing or unreadable (then the run is redone)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        warnings.warn(f"{path}: unreadable results file ({err}); the run will be redone", stacklevel=2)
        return None
    if not isinstance(data, dict) or "metrics" not in data:
        warnings.warn(f"{path}: results file without 'metrics'; the run will be redone", stacklevel=2)
        return None
    return data


def load_results_dir(output_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable results file under ``output_dir/results``, sorted by file name."""
    files = sorted((Path(output_dir) / "results").glob("*.json"))
    return [r for r in (load_result(p) for p in files) if r is not None]


def load_meta(output_dir: str | Path) -> dict[str, Any] | None:
    """The ``meta.json`` a benchmark wrote beside its results (its provenance), or None."""
    path = Path(output_dir) / "meta.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
