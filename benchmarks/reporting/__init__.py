"""Reporting: the comparison tables (``table``), the claims check (``claims``), figures, the HTML page and the
report builder (``build``), and experiment tracking (``tracking``)."""
