"""The maturity engine: level rules, attestations, programme score, trend, explain.

``exporter.assess`` re-exports the public interface; see docs/maturity.md.
"""
