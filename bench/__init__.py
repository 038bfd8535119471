"""The benchmark: a synthetic history at a chosen scale, loaded and queried on the embedded store.

``python -m bench.run`` (``make bench``); results and what bounds them are in ``docs/benchmarks.md``.
"""
