"""Architecture snapshots for CI: what a model's layers look like, and what changed.

A snapshot is one small, deterministic, schema-versioned JSON file per model and input
(:mod:`archscope.snapshot.files`); :mod:`archscope.snapshot.diff` compares two of them.
Both are plain data: no torch.
"""
