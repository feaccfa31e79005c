"""A model store for the serving tests, built by the project's own training flow (needs `prefect_harness`)."""

from __future__ import annotations

from pathlib import Path

MODEL = "digits-logreg"
IMPUTED = "digits-imputed"


def build_store(root: Path) -> Path:
    """digits-logreg v1 (C=1) and v2 (C=0.05, champion), digits-imputed v1 (trained with data.impute=median).

    The two digits-logreg versions give different probabilities for the same rows, so a test can tell from an
    answer which version produced it.
    """
    from mlops_pipeline.flows.pipeline import training_pipeline

    from mlops_pipeline.config import parse_config

    configs = [
        {"registry": {"root": str(root)}},
        # a weaker model on purpose (still well over the gate's 0.95): the champion check may not refuse it
        {"registry": {"root": str(root)}, "model": {"C": 0.05}, "gate": {"champion_tolerance": 1.0}},
        {"registry": {"root": str(root), "model_name": IMPUTED}, "data": {"impute": "median"}},
    ]
    for values in configs:
        state = training_pipeline(parse_config(values), return_state=True)
        assert state.is_completed(), state.message
    return root
