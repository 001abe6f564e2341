"""Metrics: one module per metric (pure math in private functions, pinned by tests); names in ``catalog``."""

from benchmarks.metrics.catalog import METRICS, MetricInfo

__all__ = ["METRICS", "MetricInfo"]
