"""`/docs` without a CDN: Swagger UI's JavaScript and CSS served by the service itself.

FastAPI's default `/docs` page loads Swagger UI from cdn.jsdelivr.net and its favicon from fastapi.tiangolo.com,
so it renders blank where the service has no internet (a closed network, a container on a private host). The
`fastapi-swagger` package ships Swagger UI's release files; they are mounted at `ASSETS_PATH` and the page is
FastAPI's own `get_swagger_ui_html` pointed at them (FastAPI's documented way to self-host the docs assets).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/swagger-ui"
ASSETS_PACKAGE = ("fastapi_swagger", "resources")  # swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png
# Swagger UI asks validator.swagger.io for a badge unless told not to: no request may leave the host.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at `/docs` from packaged files. The app must be made with `docs_url=None`."""
    if app.docs_url is not None:
        raise ValueError(f"FastAPI(docs_url={app.docs_url!r}) already serves the CDN docs page; pass docs_url=None")
    if app.openapi_url is None:
        raise ValueError("FastAPI(openapi_url=None): the docs page has no schema to show")
    openapi_url = app.openapi_url
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="swagger-ui")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # behind a proxy that strips a prefix (uvicorn --root-path), every URL on the page needs that prefix
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
