"""The `load_champion` task: the current champion, hash-verified, for the gate to compare the candidate with."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops_pipeline import gate
from mlops_pipeline.gate import Champion
from mlops_pipeline.registry import ModelStore


@task(name="load_champion", persist_result=False, cache_policy=NO_CACHE)
def load_champion(store: ModelStore) -> Champion | None:
    """The champion loaded hash-verified (None: no champion yet); a load failure is kept as its reason."""
    return gate.load_champion(store)
