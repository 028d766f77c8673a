"""Tooling for tests and benchmarks, not shipped as part of the library: throwaway pipeline repos, a tiny BERT,
process helpers, and the dvc.yaml dependency check."""
