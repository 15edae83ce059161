"""Architecture snapshots for CI, in one package: what a model's layers look like, and what changed.

- :mod:`~archscope.snapshot.files`: the schema; reading, validating and writing one file (no torch).
- :mod:`~archscope.snapshot.compare`: two snapshots of one model, layer by layer (no torch).
- :mod:`~archscope.snapshot.check`: taking snapshots and checking them (``archscope snapshot``,
  ``archscope check``, ``check --zoo``): the orchestrator, which traces.
- :mod:`~archscope.snapshot.report`: its reports (table, GitHub annotations, JSON, JUnit XML).
- :mod:`~archscope.snapshot.pytest_plugin`: the same check as a pytest fixture.

The model-to-model diff of ``archscope diff`` (any two targets, side by side, with layer
attributes) is another question, answered in :mod:`archscope.analysis.diff`.
"""
