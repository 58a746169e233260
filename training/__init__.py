"""Training shards as a library, shared by miner and validator.

SparseLoCo-style compression (``compress``), the content-addressed object store
(``store``), round assignment (``shards``), inner training (``inner``), Gauntlet-style
scoring (``scoring``) and DiLoCo aggregation (``aggregate``). Both sides run the same
code: the miner compresses, the validator decodes, scores and aggregates the very same
format (``wmnet.protocol.shard``).
"""
