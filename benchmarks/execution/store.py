"""A benchmark's output folder: one results JSON per run, its figure data beside it, and ``meta.json``.

Every file is written atomically (:mod:`benchmarks.files`), so an interrupted benchmark resumes by skipping
the runs whose results file exists; a file that cannot be read counts as missing and its run is redone.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.files import write_bytes_atomic, write_text_atomic


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON (NaN as null, ±inf as strings), written atomically."""
    write_text_atomic(path, json.dumps(_json_safe(data), indent=1, sort_keys=False, default=str) + "\n")


def results_path(output_dir: str | Path, run_id: str) -> Path:
    return Path(output_dir) / "results" / f"{run_id}.json"


def figure_path(output_dir: str | Path, run_id: str) -> Path:
    return results_path(output_dir, run_id).with_suffix(".npz")


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


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
