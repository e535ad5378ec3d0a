"""Scanner reports as a source: one parser module per format, one collector.

See :mod:`collectors.reports.collector` and docs/collectors/reports.md.
"""

from collectors.reports.collector import ReportsCollector, ReportsSettings

__all__ = ["ReportsCollector", "ReportsSettings"]
