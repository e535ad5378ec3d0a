"""The property-based fuzz harness over every API response parser and file loader.

Split by concern: :mod:`tests.fuzz.core` (profiles, limits, arbitrary JSON, record
checks), :mod:`tests.fuzz.api` (the fake-API machinery and its properties),
:mod:`tests.fuzz.worlds` (one fake per API collector configuration),
:mod:`tests.fuzz.loaders` (config, maturity files, the file collector, Prowler and the
scanner reports) and :mod:`tests.fuzz.registry` (every target by name). The tests, and
the table of pinned regression examples, are in tests/test_fuzz_parsers.py;
benchmarks/fuzz_bench.py runs the targets at length. The module docstring of
tests/test_fuzz_parsers.py describes the properties.
"""
