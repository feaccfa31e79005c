"""The FastAPI app: `create_app(config)` wires the model store, the champion watcher and online drift.

Routes: `POST /predict`, `GET /health`, `GET /models`, `GET /` (the draw-a-digit page), `/static/*` (its files,
shipped with the package: no CDN), OpenAPI docs at `/docs` (Swagger UI's files
from the fastapi-swagger package, no CDN: see `docs`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from mlops_pipeline.registry import open_store

from .config import ServingConfig
from .docs import add_offline_docs
from .inputs import RequestError, check_request
from .model import ModelLoader, ServedModel, load_int8
from .online_drift import EventSink, OnlineDrift, default_sink
from .schema import request_schema
from .watcher import ChampionWatcher

logger = logging.getLogger("serving")
STATIC = resources.files(__package__) / "static"


# ---- schemas, for the OpenAPI docs (the body itself is parsed by `inputs`, which names every fault) -------------
class PredictRequest(BaseModel):
    """The generic form; /openapi.json replaces it with the served model's own schema (`schema.request_schema`)."""

    instances: list[list[Any]] | list[dict[str, Any]] = Field(
        description="Rows in the contract's column order, or objects of column: value (text categories and dates "
        "as strings). null is a missing value.",
        examples=[[[0.0] * 64]],
    )


class PredictResponse(BaseModel):
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        None, description="Per row, one probability per class (classifiers with probabilities)."
    )
    classes: list[Any] | None = Field(None, description="The class of each probability column.")
    model: str
    version: str
    warnings: list[str] | None = Field(
        None,
        description="Values mildly outside the training range, imputed or missing cells, categories never seen in "
        "training, columns ignored.",
    )


class ErrorResponse(BaseModel):
    detail: str = Field(description="What is wrong with the request: row, column, value.")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="Every fault found (up to 20).")


class Service:
    """The state behind the routes: what is served now, and what happens around it."""

    def __init__(self, config: ServingConfig, loader: ModelLoader, sink: EventSink | None):
        self.config = config
        self.store = open_store(config.root, config.model_name)
        self.drift = OnlineDrift(config.drift, sink)
        self.watcher = ChampionWatcher(self.store, loader, config.poll_seconds)
        self.watcher.load_initial()

    @property
    def model(self) -> ServedModel:
        served = self.watcher.current
        assert served is not None  # load_initial succeeded in __init__
        return served

    def predict(self, body: bytes) -> dict[str, Any]:
        served = self.model  # one read: this request finishes on this model whatever the watcher does meanwhile
        checked = check_request(
            body,
            served.contract,
            served.limits,
            self.config.max_rows,
            columns=served.columns,
            unknown=self.config.unknown_categories,
        )
        answer = served.answer(checked.X)
        if checked.warnings:
            answer["warnings"] = checked.warnings
        self.drift.observe(served, checked.X)
        return answer

    def health(self) -> dict[str, Any]:
        served = self.model
        refused = self.watcher.refused
        return {
            "status": "ok",
            "model": served.name,
            "version": served.version,
            "sha256": served.sha256,
            "kind": served.kind,
            "features": len(served.contract.features),
            "classes": served.classes,
            "champion_refused": dataclasses.asdict(refused) if refused else None,
            "watcher_polls": self.watcher.polls,
            "drift": dataclasses.asdict(self.drift.status()),
        }

    def models(self) -> dict[str, Any]:
        champion = self.store.champion()
        serving = self.model.version
        versions = []
        for version in reversed(self.store.versions()):
            card = self.store.card(version)
            versions.append(
                {
                    "version": version,
                    "status": card.get("status"),
                    "champion": version == champion,
                    "serving": version == serving,
                    "created_at": card.get("created_at"),
                    "metrics": card.get("metrics"),
                    "int8_metrics": card.get("int8_metrics"),
                    "reason": card.get("reason") or None,
                }
            )
        return {"model": self.store.name, "champion": champion, "serving": serving, "versions": versions}


def describe_served_model(app: FastAPI, service: Service) -> None:
    """`/openapi.json` (and so `/docs`) describes the /predict body of the model being served: each column's type,
    categories and date format. Made again when the champion changes."""
    generic = app.openapi
    described: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        served = service.model
        if described.get("version") != served.version or app.openapi_schema is None:
            app.openapi_schema = None
            schema = generic()
            body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
            body["schema"] = request_schema(
                served.contract,
                served.columns,
                max_rows=service.config.max_rows,
                unknown=service.config.unknown_categories,
            )
            body["example"] = body["schema"]["example"]
            described["version"] = served.version
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the schema


async def _read_body(request: Request, max_bytes: int) -> bytes:
    too_big = f"request body over {max_bytes} bytes (--max-bytes): send fewer rows per request"
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise RequestError(413, too_big)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestError(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: ServingConfig | None = None,
    *,
    loader: ModelLoader = load_int8,
    sink: EventSink | None = None,
    background: bool = True,
) -> FastAPI:
    """The prediction service for `config.model_name`'s champion (loaded now: fails if there is none).

    `loader` turns a store version into a ServedModel (the int8 model; the benchmark passes its float twin);
    `sink` delivers drift events (default: the Prefect API when PREFECT_API_URL is set, else the log);
    `background=False` leaves the watcher and drift threads unstarted (tests drive them with poll()/tick()).
    """
    config = config or ServingConfig()
    service = Service(config, loader, sink if sink is not None else default_sink())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if background:
            service.watcher.start()
            service.drift.start()
        try:
            yield
        finally:
            service.watcher.stop()
            service.drift.stop()

    app = FastAPI(
        title=f"{config.model_name} predictions",
        description="Online predictions of the champion's int8 model, checked against its data contract. "
        "Follows the model store's champion (promotions and rollbacks) without a restart.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # add_offline_docs serves /docs without a CDN
        swagger_ui_oauth2_redirect_url=None,  # no OAuth
    )
    app.state.service = service
    describe_served_model(app, service)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    add_offline_docs(app)

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            400: {"model": ErrorResponse, "description": "malformed JSON or body"},
            413: {"model": ErrorResponse, "description": "too many rows or bytes"},
            422: {"model": ErrorResponse, "description": "rows break the data contract"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        """Predict rows with the champion's int8 model (KServe V1 / MLflow `instances`)."""
        body = await _read_body(request, config.max_bytes)
        try:
            answer = service.predict(body)
        except RequestError:
            raise
        except Exception:  # a bug, not the request: log it, answer 500, keep serving
            logger.exception("predict failed")
            return JSONResponse({"detail": "internal error while predicting (logged)", "errors": []}, status_code=500)
        # orjson: ~10x faster than json.dumps on 100 rows of probabilities (the answers hold no NaN)
        return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """The version being served, its int8 file's sha256, champion refusals, online drift counters."""
        return service.health()

    @app.get("/models")
    async def models() -> dict[str, Any]:
        """Every version of the model, newest first: status, metrics, which is champion and which is served."""
        return service.models()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    return app
