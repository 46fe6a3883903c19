"""Benchmarks (``make bench-*``; ``python -m bench.<name>``): dev-only, outside the app packages.

``core`` (the pure detection core), ``quality`` (detection quality on synthetic changes and NAB),
``pipeline`` (Kafka -> detector -> ClickHouse throughput and latency; ``quix`` is its Quix
Streams peer, run as a subprocess), ``baselines`` (the baseline fold) and ``api`` (the monitoring
API under wrk). Each prints progress and, as its last line, one JSON object. No app package
imports this one (an import-linter contract), and the production image leaves it out
(``.dockerignore``).
"""
