"""The emissions ledger: what the subnet paid (emission) and earned (revenue) per workload.

``models`` (tables) and ``migrations`` (Alembic), ``db`` (URL, engine, migrate),
``indexer`` (epochs from the chain), ``usage`` (validator records, ``LedgerUsageSink``),
``capacity`` (miners' capacity reports), ``subsidy`` + ``apportion`` (emission split
across workloads, exact), ``billing`` (the gateway's API), ``reports`` + ``render``
(figures; table/json/csv/png), ``api`` (JSON API and dashboard). See docs/ledger.md.
"""
