"""Worked examples of using aebench with your own code (importable from the repository root)."""
