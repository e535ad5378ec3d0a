"""Source collectors: each pulls raw data from one system and returns normalized records.

Collectors sit at the upstream end of the data flow. They know nothing about the store,
derivation, maturity levels or Prometheus; the only things they share are the record
types in :mod:`collectors.records`, the plugin interface in :mod:`collectors.base` and
the HTTP helper in :mod:`collectors.http`.
"""
