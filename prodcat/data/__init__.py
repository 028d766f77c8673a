"""Catalog data: parsing, labels and splits, the synthetic default catalog, profiles, quality checks and Data Docs."""
