"""python -m mlops_pipeline.registry list|show|promote|rollback (see `_cli`)."""

from mlops_pipeline.registry._cli import _cli

raise SystemExit(_cli())
