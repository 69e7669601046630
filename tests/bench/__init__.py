"""Benchmarks of the reload controller against the real local control plane (``make bench``).

Not part of the default test run (pytest's testpaths are tests/unit and tests/integration).
Entry point: ``python -m tests.bench --help``; see tests/bench/README.md.
"""
