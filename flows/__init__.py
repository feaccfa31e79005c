"""Prefect flows: each is runnable as `python flows/<name>.py --help`."""
