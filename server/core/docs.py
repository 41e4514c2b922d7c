"""The API's documentation pages (Swagger UI at /docs), served from the server itself.

Swagger UI's assets come from the pinned ``fastapi-offline`` package (it ships swagger-ui-dist), so
/docs works on a lab network without internet. The page holds no inline script (its start-up is
/docs/init.js), so its content security policy can allow scripts from this server only.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

PREFIX = "/docs"
ASSETS = Path(str(files("fastapi_offline") / "static"))

# Swagger UI sets style attributes from its scripts and draws icons as data: images.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
          "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API</title>
<link rel="icon" href="{root}/docs/assets/favicon.png">
<link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{root}/docs/init.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve /docs, /docs/init.js and /docs/assets/* (not part of the OpenAPI document)."""
    title = app.title

    async def page(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return HTMLResponse(PAGE.format(title=title, root=root))

    async def start(request: Request) -> Response:
        options = {"url": f"{request.scope.get('root_path', '')}/openapi.json", "dom_id": "#swagger-ui",
                   "layout": "BaseLayout", "deepLinking": True, "showExtensions": True,
                   "showCommonExtensions": True, "persistAuthorization": False}
        script = (f"window.ui = SwaggerUIBundle(Object.assign({json.dumps(options)}, "
                  "{presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]}));\n")
        return Response(script, media_type="text/javascript")

    app.router.routes.extend([
        Route(PREFIX, page, methods=["GET"], include_in_schema=False),
        Route(f"{PREFIX}/init.js", start, methods=["GET"], include_in_schema=False),
        Mount(f"{PREFIX}/assets", StaticFiles(directory=ASSETS), name="docs-assets"),
    ])
