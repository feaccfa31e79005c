"""The `load_champion` task: the current champion, hash-verified, for the gate to compare the candidate with."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops_pipeline import gate
from mlops_pipeline.config import LOWER_IS_BETTER, primary_metric
from mlops_pipeline.gate import BestPassed, Champion
from mlops_pipeline.registry import Store
from mlops_pipeline.validate import PreparedData


@task(name="load_champion", persist_result=False, cache_policy=NO_CACHE)
def load_champion(store: Store) -> Champion | None:
    """The champion loaded hash-verified (None: no champion yet); a load failure is kept as its reason."""
    return gate.load_champion(store)


@task(name="load_best_passed", persist_result=False, cache_policy=NO_CACHE)
def load_best_passed(store: Store, data: PreparedData, champion: Champion | None) -> BestPassed | None:
    """The gate ratchet's bound: the best primary metric a passed version up to the champion reached on this split.

    Versions after the champion (a rollback moved past them) and runs with no champion add no bound; the
    commit-time re-check covers a champion promoted by another run meanwhile.
    """
    if champion is None or champion.error is not None:  # an unloadable champion already fails the gate
        return None
    metric = primary_metric(data.problem)
    best = store.best_passed_metric(metric, data.fingerprint, metric in LOWER_IS_BETTER, up_to=champion.version)
    return BestPassed(*best) if best else None
