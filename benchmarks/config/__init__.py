"""Configuration and the run grid: YAML → validated dataclasses → the list of runs, fixed before anything trains."""

from benchmarks.config.grid import BaselineSpec, RunSpec, Spec, expand_grid
from benchmarks.config.schema import ConfigError
from benchmarks.config.settings import (
    CONFIG_DIR,
    DEFAULT_CONFIG,
    BenchmarkConfig,
    DatasetConfig,
    EvaluationConfig,
    ExecutorConfig,
    LoggerConfig,
    ModelConfig,
    TrainerConfig,
    load_config,
    parse_overrides,
)

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_CONFIG",
    "BaselineSpec",
    "BenchmarkConfig",
    "ConfigError",
    "DatasetConfig",
    "EvaluationConfig",
    "ExecutorConfig",
    "LoggerConfig",
    "ModelConfig",
    "RunSpec",
    "Spec",
    "TrainerConfig",
    "expand_grid",
    "load_config",
    "parse_overrides",
]
