"""Evaluation: the metrics (``metrics/``), what they read (``inputs``), FID features and scorer, latent samplers,
the linear baselines and the figure data of a run."""
