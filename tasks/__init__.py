"""Prefect task wrappers, one module per pipeline step; the logic they call is in `mlops_pipeline`."""
