"""devsecops-maturity-exporter: DevSecOps outcome metrics and maturity levels for Prometheus."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("devsecops-maturity-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
