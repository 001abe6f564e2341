"""A benchmark's output folder: one results JSON per run, its figure data beside it, and ``meta.json``.

Every file is written atomically (:mod:`benchmarks.files`), so an interrupted benchmark resumes by skipping
the runs whose results file exists. A results file is checked against one schema when it is read
(:func:`record_problem`): a file that cannot be read, or does not fit the schema, counts as missing (its run is
redone) and is listed by :func:`load_results_dir`, so a report can say which runs it could not show.

JSON has no NaN or infinity: a non-finite number is written as the string ``"nan"``, ``"inf"`` or ``"-inf"``
and read back as that float, so a diverged metric stays visible instead of becoming ``null``.
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.files import write_bytes_atomic, write_text_atomic

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

#: the keys every results record has, and their types
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "run_id": str, "dataset": str, "model": str, "label": str, "seed": int, "hparams": dict, "config": dict,
    "metrics": dict,
}  # fmt: skip


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON (non-finite floats as strings, see the module docstring), written atomically."""
    write_text_atomic(path, json.dumps(_json_safe(data), indent=1, sort_keys=False, default=str) + "\n")


def _metric_value(value: Any) -> Any:
    """A metric value as read back: numbers, lists of numbers, the non-finite strings as floats; else a TypeError."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float, list)):
        raise TypeError(f"metric value {value!r} is not a number")
    return [_metric_value(v) for v in value] if isinstance(value, list) else value


def record_problem(data: Any) -> str | None:
    """Why ``data`` is not a valid results record, or None (the schema: :data:`REQUIRED`, numeric metrics, and
    metrics present when the record says metrics applied)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for key, kind in REQUIRED.items():
        if key not in data:
            return f"missing key '{key}'"
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            return f"'{key}' is not a {getattr(kind, '__name__', kind)}"
    try:
        for value in data["metrics"].values():
            _metric_value(value)
    except TypeError as err:
        return str(err)
    applied = (data.get("eval_identity") or {}).get("applied")
    failed = data.get("metric_failures") or {}
    if not data["metrics"] and (applied is None or set(applied) - set(failed)):
        return "no metrics although metrics were evaluated"
    return None


def results_path(output_dir: str | Path, run_id: str) -> Path:
    return Path(output_dir) / "results" / f"{run_id}.json"


def figure_path(output_dir: str | Path, run_id: str) -> Path:
    return results_path(output_dir, run_id).with_suffix(".npz")


def failure_path(output_dir: str | Path, run_id: str) -> Path:
    """Where the runner keeps the record of a run's last failure (removed when the run succeeds)."""
    return Path(output_dir) / "failures" / f"{run_id}.json"


def load_failure(output_dir: str | Path, run_id: str) -> dict[str, Any] | None:
    """The last failure of a run, or None (absent or unreadable: then it is simply retried)."""
    try:
        data = json.loads(failure_path(output_dir, run_id).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "error" in data else None


class UnreadableFile(ValueError):
    """A results, figure-data or meta file that exists but cannot be used; the message says why."""


def read_result(path: Path) -> dict[str, Any] | None:
    """A finished run's results, None when the file is missing; :class:`UnreadableFile` when it is damaged."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UnreadableFile(f"{path}: unreadable results file ({type(err).__name__}: {err})") from err
    problem = record_problem(data)
    if problem is not None:
        raise UnreadableFile(f"{path}: not a valid results file ({problem})")
    data["metrics"] = {k: _metric_value(v) for k, v in data["metrics"].items()}
    return data


def load_result(path: Path) -> dict[str, Any] | None:
    """A finished run's results, or None when the file is missing or damaged (warned about: the run is redone)."""
    try:
        return read_result(path)
    except UnreadableFile as err:
        warnings.warn(f"{err}; the run will be redone", stacklevel=2)
        return None


@dataclass
class Loaded:
    """The valid results records of a folder, and what could not be read (one message per file)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    unreadable: dict[Path, str] = field(default_factory=dict)


def load_results_dir(output_dir: str | Path) -> Loaded:
    """Every results file under ``output_dir/results``, sorted by file name: the valid ones and the damaged ones."""
    loaded = Loaded()
    for path in sorted((Path(output_dir) / "results").glob("*.json")):
        try:
            record = read_result(path)
        except UnreadableFile as err:
            loaded.unreadable[path] = str(err)
            continue
        if record is not None:
            loaded.records.append(record)
    return loaded


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


def read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """A run's figure data, None when absent; :class:`UnreadableFile` when the file is damaged."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise UnreadableFile(f"{path}: unreadable figure data ({type(err).__name__}: {err})") from err


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """A run's figure data, or None when absent or damaged (warned about)."""
    try:
        return read_npz(path)
    except UnreadableFile as err:
        warnings.warn(str(err), stacklevel=2)
        return None
