"""Online predictions: an HTTP service for a model's champion int8 model, and a draw-a-digit page.

Start it with ``python -m serving --model digits-logreg`` from the project root (or
``python -m mlops_pipeline.serving`` from anywhere). The app logic lives in plain classes and functions:

- ``config``   ServingConfig, the one settings model (limits, polling, drift windows)
- ``inputs``   the request body checked against the version's data contract -> a float64 matrix, or a 4xx naming
               the fault
- ``model``    ServedModel: one champion version loaded hash-verified through the ModelStore, and its answers
- ``watcher``  ChampionWatcher: follows the store's champion pointer and swaps models atomically
- ``online_drift``  OnlineDrift: drift of the served rows, ``model.drift.detected`` events off the request path
- ``docs``     ``/docs`` with Swagger UI's files served from a package (no CDN: works offline)
- ``app``      create_app(...): the FastAPI app (``/predict``, ``/health``, ``/models``, ``/`` the page)

The package depends on the pure library (``mlops_pipeline.*``) only, never on the Prefect task wrappers or flows.
"""

from .app import create_app
from .config import ServingConfig

__all__ = ["ServingConfig", "create_app"]
