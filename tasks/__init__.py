"""Plain, typed pipeline steps and their thin Prefect task wrappers."""
