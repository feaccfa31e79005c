"""Labelled sets that ship with the package (see README.md here): golden sets for the test-gate."""
