"""Execution: training one run (``train``), the benchmark loop over the grid (``runner``), the output folder
(``store``), provenance, and re-evaluation from checkpoints (``reevaluate``)."""
