"""Prefect orchestration of the DVC pipeline: DVC decides what is up to date, Prefect when and where it runs."""
