"""The benchmark config: YAML → validated dataclasses with every default filled in.

A config names datasets (with DataModule options), models (with hyperparameters, optionally a
``sweep``), seeds, the Trainer options, evaluation settings and the logger. Dataset and model options
are checked against the signature of the registered class, so the classes are the schema.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from benchmarks.config.schema import ConfigError, build_dataclass, check_kwargs, check_required, defaults_of

CONFIG_DIR = Path(__file__).parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
RUNS_DIR = Path("runs")  # where a benchmark writes by default: a working folder (ignored by git)
REFERENCE_DIR = Path("reports")  # the committed reference reports, written only with --write-reference
DATA_ENV = "AEBENCH_DATA"  # the base folder of relative dataset roots (default: the config file's folder)
_FILE_OPTIONS = ("root", "path")  # dataset options that name files: a data folder, a user's tensor file

# Value ranges of hyperparameters, by name, wherever they appear (dataset or model options).
_POSITIVE = {
    "latent_dim", "lr", "gaussian_sigma", "batch_size", "capacity_steps", "n_train", "n_val", "n_test", "k",
    "kl_warmup_steps", "kl_cycles", "dataset_size", "disc_lr", "train_size",
}  # fmt: skip
_NON_NEGATIVE = {
    "beta", "capacity_max", "capacity_gamma", "split_seed", "free_bits", "z_weight", "reg_weight", "mmd_weight", "alpha",
    "gamma", "noise_level", "held_out_class",
}  # fmt: skip
_FRACTIONS = {"val_fraction", "test_fraction"}
_POSITIVE_ITEMS = {"hidden", "disc_hidden"}  # lists whose every element must be > 0 (a layer of width 0 trains a constant)
MAX_SEED = 2**32 - 1  # what numpy's and Lightning's seeding accept


def _check_range(key: str, value: Any, where: str) -> None:
    """Raise if a hyperparameter named ``key`` has an impossible value; ``where`` is its key path."""
    if key in _POSITIVE_ITEMS and isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not isinstance(item, int) or isinstance(item, bool) or item <= 0:
                raise ConfigError(f"{where}[{i}]: must be an integer > 0, got {item!r}")
        return
    if value is None or isinstance(value, (str, bool, list, tuple)):
        return
    if key in _POSITIVE and value <= 0:
        raise ConfigError(f"{where}: must be > 0, got {value}")
    if key in _NON_NEGATIVE and value < 0:
        raise ConfigError(f"{where}: must be >= 0, got {value}")
    if key in _FRACTIONS and not 0 < value < 1:
        raise ConfigError(f"{where}: must be in (0, 1), got {value}")


def _check_ranges(options: dict[str, Any], path: str) -> None:
    for key, value in options.items():
        _check_range(key, value, f"{path}.{key}")


def _named_entry(kind: str, data: Any, path: str) -> tuple[dict[str, Any], type]:
    """A ``datasets``/``models`` entry as a mapping (a bare name is allowed) and its class: registered, an import
    path ``package.module:Class`` or an installed entry point (the registry's ``get`` resolves and checks it)."""
    from aebench_registry import RegistryError
    from datamodules import DATAMODULES
    from lightning_modules import MODELS

    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or "name" not in data:
        raise ConfigError(f"{path}: expected a mapping with a 'name' key, got {data!r}")
    registry = {"dataset": DATAMODULES, "model": MODELS}[kind]
    name = data["name"]
    if not isinstance(name, str):
        raise ConfigError(f"{path}.name: {registry.unknown_message(str(name))}")
    try:
        return data, registry.get(name)
    except RegistryError as err:
        raise ConfigError(f"{path}.name: {err}") from err


def _label_and_sweep(
    data: dict[str, Any], module: type, path: str, skip: tuple[str, ...]
) -> tuple[str | None, dict[str, list[Any]]]:
    """An entry's optional ``label`` and ``sweep`` (option → non-empty list), every swept value checked against the
    class's signature and the value ranges."""
    label = data.get("label")
    if label is not None and not isinstance(label, str):
        raise ConfigError(f"{path}.label: expected a string, got {label!r}")
    sweep = data.get("sweep") or {}
    if not isinstance(sweep, dict) or not all(isinstance(v, list) and v for v in sweep.values()):
        raise ConfigError(f"{path}.sweep: expected a mapping of option → non-empty list, got {sweep!r}")
    for key, values in sweep.items():
        for i, value in enumerate(values):
            checked = check_kwargs(module.__init__, {key: value}, f"{path}.sweep", skip=skip)
            _check_range(key, checked[key], f"{path}.sweep.{key}[{i}]")
    return label, sweep


def _sweep_points(base: str, sweep: dict[str, list[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each point of ``sweep`` (keys sorted) with its label ``base[key=value,...]``; ``[(base, {})]`` without a sweep."""
    if not sweep:
        return [(base, {})]
    keys = sorted(sweep)
    out = []
    for values in itertools.product(*(sweep[k] for k in keys)):
        point = dict(zip(keys, values))
        tag = ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())
        out.append((f"{base}[{tag}]", point))
    return out


@dataclass(frozen=True)
class DatasetConfig:
    """``name``, an optional ``label`` (how its section and runs are named in tables; default the name), keyword
    options of the registered DataModule (``seed`` is set per run), and an optional ``sweep`` of options to expand
    into one dataset per point (``sweep: {held_out_class: [0, 1]}`` → ``digits[held_out_class=0]``, …)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    sweep: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, data: Any, path: str) -> DatasetConfig:
        data, module = _named_entry("dataset", data, path)
        label, sweep = _label_and_sweep(data, module, path, skip=("seed",))
        options = {k: v for k, v in data.items() if k not in ("name", "label", "sweep")}
        options = check_kwargs(module.__init__, options, path, skip=("seed",))
        check_required(module.__init__, {**options, **sweep}, path, skip=("seed",))
        _check_ranges(options, path)
        if "root" in inspect.signature(module.__init__).parameters and "root" not in options and os.environ.get(DATA_ENV):
            options["root"] = os.environ[DATA_ENV]
        config = cls(data["name"], options, label, sweep)
        for point in config.expand():
            resolved = point.resolved()
            if "val_fraction" in resolved and "test_fraction" in resolved:
                total = resolved["val_fraction"] + resolved["test_fraction"]
                if total >= 1:
                    raise ConfigError(f"{path}: val_fraction + test_fraction must be < 1 (training needs images), got {total:g}")
        return config

    @property
    def display_name(self) -> str:
        """What tables and progress lines call it: its label, else its name."""
        return self.label or self.name

    def expand(self) -> list[DatasetConfig]:
        """One dataset per point of the sweep, labelled ``label[key=value,...]``; itself without a sweep."""
        if not self.sweep:
            return [self]
        points = _sweep_points(self.display_name, self.sweep)
        return [DatasetConfig(self.name, {**self.options, **point}, label) for label, point in points]

    def resolved(self) -> dict[str, Any]:
        """Name, label (when one is set) and every option with its default filled in (a sweep is not included)."""
        from datamodules import DATAMODULES

        defaults = defaults_of(DATAMODULES.get(self.name).__init__, skip=("seed",))
        return {"name": self.name, **({"label": self.label} if self.label else {}), **defaults, **self.options}


@dataclass(frozen=True)
class ModelConfig:
    """``name``, an optional row ``label``, hyperparameters, and an optional ``sweep`` of lists to expand."""

    name: str
    label: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, data: Any, path: str) -> ModelConfig:
        data, module = _named_entry("model", data, path)
        label, sweep = _label_and_sweep(data, module, path, skip=("image_shape",))
        hparams = {k: v for k, v in data.items() if k not in ("name", "label", "sweep")}
        hparams = check_kwargs(module.__init__, hparams, path, skip=("image_shape",))
        _check_ranges(hparams, path)
        check_required(module.__init__, {**hparams, **sweep}, path, skip=("image_shape",))
        return cls(data["name"], label, hparams, sweep)

    def expand(self) -> list[ModelConfig]:
        """One config per point of the sweep, labelled ``label[key=value,...]``."""
        points = _sweep_points(self.label or self.name, self.sweep)
        return [ModelConfig(self.name, label, {**self.hparams, **point}) for label, point in points]

    def resolved(self) -> dict[str, Any]:
        from lightning_modules import MODELS

        defaults = defaults_of(MODELS.get(self.name).__init__, skip=("image_shape",))
        return {"name": self.name, "label": self.label or self.name, **defaults, **self.hparams}


@dataclass(frozen=True)
class TrainerConfig:
    """Options passed through to ``pytorch_lightning.Trainer`` (same names)."""

    max_epochs: int = 100
    max_steps: int = -1
    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str | int = "32-true"
    gradient_clip_val: float | None = None
    check_val_every_n_epoch: int | None = None  # None: no validation loop (costs ~30% at this size)
    deterministic: bool = False
    # not a Trainer argument: a full checkpoint to resume from every N epochs; None: after every 5 minutes of
    # training (short runs never pay for one). It does not change the trained model, so not the run id either.
    checkpoint_every_n_epochs: int | None = None
    # not Trainer arguments: stop when val/loss has not improved by min_delta for `patience` validation checks
    # (needs check_val_every_n_epoch); max_epochs is then the cap. None: train for the whole budget.
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0

    def validate(self, path: str) -> None:
        if self.max_epochs < 1 and self.max_steps < 1:
            raise ConfigError(f"{path}.max_epochs: must be >= 1 (or set max_steps >= 1)")
        if self.early_stopping_patience is not None:
            if self.early_stopping_patience < 1:
                raise ConfigError(f"{path}.early_stopping_patience: must be >= 1 or null, got {self.early_stopping_patience}")
            if self.check_val_every_n_epoch is None:
                raise ConfigError(f"{path}.early_stopping_patience: needs a validation loop; set check_val_every_n_epoch")
        if self.early_stopping_min_delta < 0:
            raise ConfigError(f"{path}.early_stopping_min_delta: must be >= 0, got {self.early_stopping_min_delta}")
        for key in ("check_val_every_n_epoch", "checkpoint_every_n_epochs"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"{path}.{key}: must be >= 1 or null, got {value}")


@dataclass(frozen=True)
class DisentanglementConfig:
    """Sample sizes and options of the disentanglement metrics (``benchmarks/evaluation/metrics``, group
    "disentanglement"); the defaults are the protocol of Locatello et al. 2019 (disentanglement_lib's
    ``unsupervised_study_v1`` metric configs), except ``dci_estimators`` (see ``metrics/dci.py``)."""

    betavae_batch_size: int = 64  # pairs averaged into one training point
    betavae_num_train: int = 10000
    betavae_num_eval: int = 5000
    factorvae_batch_size: int = 64  # codes whose variance votes once
    factorvae_num_train: int = 10000
    factorvae_num_eval: int = 5000
    factorvae_num_variance: int = 10000  # codes for the global per-dim std
    factorvae_prune_threshold: float = 0.05  # a dim whose global std is below this is collapsed and never votes
    num_train: int = 10000  # MIG, DCI, SAP, modularity: codes to fit (MIG and modularity use only these)
    num_test: int = 5000  # DCI, SAP: codes to score the fitted classifiers on
    mig_bins: int = 20  # equal-width histogram bins per code dim (MIG and modularity)
    dci_estimators: int = 10  # boosting stages per factor: the library's 100 is ~10x slower on CPU (see dci.py)

    def validate(self, path: str) -> None:
        for key, value in asdict(self).items():
            if key != "factorvae_prune_threshold" and value < 1:
                raise ConfigError(f"{path}.{key}: must be >= 1, got {value}")
        if self.factorvae_batch_size < 2:
            value = self.factorvae_batch_size
            raise ConfigError(f"{path}.factorvae_batch_size: must be >= 2 (a variance needs two codes), got {value}")
        if self.factorvae_prune_threshold < 0:
            raise ConfigError(f"{path}.factorvae_prune_threshold: must be >= 0, got {self.factorvae_prune_threshold}")


@dataclass(frozen=True)
class EvaluationConfig:
    """What is measured after training and at which sample sizes."""

    fid_backend: Literal["domain", "inception"] = "domain"
    fid_samples: int | None = None  # None: the size of the test split
    samplers: list[str] = field(default_factory=lambda: ["prior", "gauss", "gmm"])
    gmm_components: int = 10
    iwae_k: int = 1000
    baselines: list[Literal["pca", "pixels"]] = field(default_factory=lambda: ["pca", "pixels"])
    batch_size: int = 500
    metrics: list[str] | None = None  # None: every registered metric that applies to a run
    disentanglement: DisentanglementConfig = field(default_factory=DisentanglementConfig)

    def validate(self, path: str) -> None:
        for key in ("gmm_components", "iwae_k", "batch_size"):
            value = getattr(self, key)
            if value < 1:
                raise ConfigError(f"{path}.{key}: must be >= 1, got {value}")
        if self.fid_samples is not None and self.fid_samples < 2:
            raise ConfigError(f"{path}.fid_samples: must be >= 2 (a covariance needs two samples) or null, got {self.fid_samples}")
        from benchmarks.evaluation.metrics import METRICS
        from benchmarks.evaluation.samplers import SAMPLERS

        for i, name in enumerate(self.samplers):
            if name not in SAMPLERS:
                raise ConfigError(f"{path}.samplers[{i}]: {SAMPLERS.unknown_message(name)}")

        for i, name in enumerate(self.metrics or []):
            if name not in METRICS:
                raise ConfigError(f"{path}.metrics[{i}]: {METRICS.unknown_message(name)}")

    def fid_metrics(self) -> list[str]:
        """The selected metrics that need FID features (they read ``fid_backend``)."""
        from benchmarks.evaluation.metrics import METRICS

        return [name for name in self.selected_metrics() if "fid_backend" in METRICS.get(name).settings]

    def selected_metrics(self) -> list[str]:
        """The metric names this evaluation runs (where they apply), in the registry's order."""
        from benchmarks.evaluation.metrics import METRICS

        chosen = set(METRICS.in_order() if self.metrics is None else self.metrics)
        return [name for name in METRICS.in_order() if name in chosen]


@dataclass(frozen=True)
class LoggerConfig:
    """Where training curves go. CSV needs no account; results files are written whatever this says."""

    type: Literal["csv", "tensorboard", "wandb"] = "csv"
    project: str = "aebench"
    entity: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExecutorConfig:
    """How the runs of the grid are executed: in this process, in order (``local``), or one Ray task per run
    (``ray``, see :mod:`benchmarks.execution.ray_executor`). Neither changes a run's numbers or its run id."""

    type: Literal["local", "ray"] = "local"
    address: str | None = None  # ray: None starts a local instance; "auto" or "ray://host:10001" joins a cluster
    cpus_per_run: int = 1  # ray: CPUs reserved per run, and its torch threads
    gpus_per_run: float = 0  # ray: GPUs reserved per run (match trainer.devices for DDP within a run)
    max_retries: int = 1  # ray: a run whose worker process dies is retried this often, then recorded failed

    def validate(self, path: str) -> None:
        if self.cpus_per_run < 1:
            raise ConfigError(f"{path}.cpus_per_run: must be >= 1, got {self.cpus_per_run}")
        if self.gpus_per_run < 0:
            raise ConfigError(f"{path}.gpus_per_run: must be >= 0, got {self.gpus_per_run:g}")
        if self.max_retries < 0:
            raise ConfigError(f"{path}.max_retries: must be >= 0, got {self.max_retries}")


@dataclass(frozen=True)
class BenchmarkConfig:
    datasets: list[DatasetConfig]
    models: list[ModelConfig]
    name: str = "default"
    output_dir: str | None = None  # None: runs/<name> (the reference is reports/<name>)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    cpu_threads: int | None = None  # None: torch's default, but 1 for MLP-sized models (faster, see train.py)
    source: str = ""  # the YAML file it came from (filled by ``load_config``)

    def validate(self, path: str) -> None:
        for key in ("datasets", "models", "seeds"):
            if not getattr(self, key):
                raise ConfigError(f"{key}: must list at least one entry")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: duplicate seeds in {self.seeds}")
        for i, seed in enumerate(self.seeds):
            if not 0 <= seed <= MAX_SEED:
                raise ConfigError(f"seeds[{i}]: must be in [0, {MAX_SEED}], got {seed}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ConfigError(f"cpu_threads: must be >= 1 or null, got {self.cpu_threads}")
        for key, labels in (
            ("models", [m.label for spec in self.models for m in spec.expand()]),
            ("datasets", [d.display_name for spec in self.datasets for d in spec.expand()]),
        ):
            dupes = sorted({x for x in labels if labels.count(x) > 1})
            if dupes:
                what = "row labels" if key == "models" else "dataset labels (a table section each)"
                raise ConfigError(f"{key}: duplicate {what} {dupes}; give each {key[:-1]} entry a distinct 'label'")
        if self.executor.type == "ray":
            self._validate_ray()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ConfigError(f"name: use letters, digits, '_', '-', '.' only, got {self.name!r}")

    def _validate_ray(self) -> None:
        """What a run needs to be one Ray task: its ranks (if any) started inside the task, on one node."""
        strategy = str(self.trainer.strategy)
        if "ddp" in strategy and not ("spawn" in strategy or "fork" in strategy):
            raise ConfigError(
                f"trainer.strategy: {strategy!r} re-launches the command per rank, which a Ray task cannot; use "
                "ddp_spawn for DDP within a run under executor.type ray"
            )
        if self.trainer.num_nodes > 1:
            raise ConfigError(
                f"trainer.num_nodes: a Ray task runs on one node, got {self.trainer.num_nodes}; under executor.type "
                "ray a run uses the devices of one node (trainer.devices, executor.gpus_per_run)"
            )

    @property
    def output_path(self) -> Path:
        """Where this benchmark writes: ``output_dir``, or ``runs/<name>``."""
        return Path(self.output_dir) if self.output_dir else RUNS_DIR / self.name

    @property
    def reference_path(self) -> Path:
        """Its committed reference report: ``reports/<name>``."""
        return REFERENCE_DIR / self.name

    def resolved(self) -> dict[str, Any]:
        """The config with every default filled in, as printed by ``aebench config show``."""
        out = asdict(self)
        out["datasets"] = [{**d.resolved(), **({"sweep": d.sweep} if d.sweep else {})} for d in self.datasets]
        out["models"] = [{**m.resolved(), **({"sweep": m.sweep} if m.sweep else {})} for m in self.models]
        return out


def _merge(base: dict[str, Any], override: dict[str, Any], path: str = "") -> dict[str, Any]:
    """``override`` merged into ``base``: mappings recursively; a mapping with integer keys into a list's elements
    (``--datasets.0.batch_size 32``); anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, where)
        elif isinstance(value, dict) and isinstance(out.get(key), list) and value and all(str(k).isdigit() for k in value):
            out[key] = _merge_elements(out[key], value, where)
        else:
            out[key] = value
    return out


def _merge_elements(items: list[Any], override: dict[str, Any], path: str) -> list[Any]:
    """List elements addressed by index; a bare name (``- digits``) becomes ``{name: digits}`` to take options."""
    items = list(items)
    for index, value in override.items():
        i = int(index)
        if i >= len(items):
            raise ConfigError(f"{path}.{index}: index out of range; {path} has {len(items)} entries (0 to {len(items) - 1})")
        element = {"name": items[i]} if isinstance(items[i], str) and isinstance(value, dict) else items[i]
        items[i] = _merge(element, value, f"{path}.{index}") if isinstance(value, dict) and isinstance(element, dict) else value
    return items


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file, resolving ``extends: OTHER`` (a path, or a config shipped with aebench)."""
    if not path.is_file():
        shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"config file not found: {path} (shipped configs: {', '.join(shipped)})")
    try:
        with path.open(encoding="utf-8") as stream:  # a stream with a name: YAML's error marks then name the file
            data = yaml.safe_load(stream) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    _resolve_roots(data, path.parent)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected the name or path of one config, got {parent!r}")
    candidates = [path.parent / parent, path.parent / f"{parent}.yaml", CONFIG_DIR / f"{parent}.yaml"]
    parent_path = next((p.resolve() for p in candidates if p.is_file()), candidates[0])
    if parent_path in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle through {parent_path}")
    return _merge(_read_yaml(parent_path, (*seen, path.resolve())), data)


def _resolve_roots(data: dict[str, Any], folder: Path) -> None:
    """Make the relative dataset file options (:data:`_FILE_OPTIONS`) of one config file absolute: against
    ``$AEBENCH_DATA`` when it is set, else against the file's own folder (so a config finds its data from any working
    directory)."""
    base = Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else folder
    for entry in data.get("datasets") or []:
        for key in _FILE_OPTIONS:
            if isinstance(entry, dict) and isinstance(entry.get(key), str) and not Path(entry[key]).is_absolute():
                entry[key] = str((base / entry[key]).resolve())


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``--trainer.devices 4 --seeds [0,1]`` → nested dict; values are parsed as YAML."""
    out: dict[str, Any] = {}
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument {arg!r}; overrides look like --trainer.max_epochs 10")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            value = next(it, None)
            if value is None:
                raise ConfigError(f"override --{key} needs a value")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            reason = " ".join(str(getattr(err, "problem", None) or err).split())
            raise ConfigError(f"--{key}: {value!r} is not a valid YAML value ({reason}); e.g. --seeds \"[0, 1]\"") from err
    return out


def config_path(name_or_path: str | Path | None) -> Path:
    """A config file: a path, or the name of a shipped config (``beta_sweep``); ``None`` is the default benchmark."""
    if name_or_path is None:
        return DEFAULT_CONFIG
    path = Path(name_or_path)
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    return shipped if not path.is_file() and shipped.is_file() else path


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> BenchmarkConfig:
    """Load, merge ``extends`` and overrides, and validate; ``None`` loads the default benchmark."""
    path = config_path(path)
    data = _merge(_read_yaml(path), overrides or {})
    data.pop("source", None)
    config = build_dataclass(BenchmarkConfig, data)
    return BenchmarkConfig(**{**config.__dict__, "source": _display_path(path)})


def _display_path(path: Path) -> str:
    """The config's path as a reader can reuse it: relative to the working directory or the repository."""
    resolved = path.resolve()
    for base in (Path.cwd(), CONFIG_DIR.parent.parent):
        if resolved.is_relative_to(base):
            return str(resolved.relative_to(base))
    return str(path)
