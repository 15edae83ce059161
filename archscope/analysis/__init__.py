"""Analyses built on traces and specs; :mod:`archscope.analysis.diff` compares two architectures."""
