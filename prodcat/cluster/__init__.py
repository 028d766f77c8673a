"""Data-parallel work on Dask: the cluster, ordered shard mapping, per-worker models, sharded encoding (sharded_encoding.py)."""
