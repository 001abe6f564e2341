"""aebench harness: configs, the run grid, metrics, evaluation, report writing and the CLI."""

__version__ = "0.1.0"
