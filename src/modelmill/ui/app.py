"""The pages: FastAPI routes rendering Jinja2 templates (autoescaped: every value read from the
bucket shows as text), a stylesheet and a small script served by the app itself (no CDN, no build
step). Read-only, but for Try it, which predicts and keeps nothing.

    /                                   every line and model
    /models/{model}                     its versions, a chart of its headline metric, alias history
    /models/{model}/versions/{version}  the card, params, metrics, figures, baseline, commands
    /models/{model}/compare?a=…&b=…     two versions side by side
    /models/{model}/drift               the reports `make monitor` filed for it
    /models/{model}/try?version=…       an example (or your file) sent to a version
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from .. import lines
from ..core.cli import UserError
from ..monitor.history import figure_bytes
from ..registry.figures import figure as fetch_figure
from .chart import svg_line
from .tryit import Examples, Predictors, answer, content_type
from .view import Catalog, NotFound, Unreadable

HERE = Path(__file__).parent
MAX_BODY = 16 * 1024 * 1024


def create_app(catalog: Catalog) -> FastAPI:
    app = FastAPI(title="modelmill registry", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    predictors, examples = Predictors(), Examples()

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> HTMLResponse:
        return page(request, "error.html", 404, title="Not found", message=str(exc))

    @app.exception_handler(Unreadable)
    async def unreadable(request: Request, exc: Unreadable) -> HTMLResponse:
        return page(request, "error.html", 502, title="The registry could not be read", message=str(exc))

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> HTMLResponse:
        return page(request, "error.html", 404, title="Not found", message=f"there is no page at {request.url.path}")

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return page(request, "home.html", **catalog.home(), line_docs={n: line for n, line in lines.LINES.items()})

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model(request: Request, model: str) -> HTMLResponse:
        described = catalog.model(model)
        chart = svg_line(described["series"], described["metric"] or "")
        return page(request, "model.html", m=described, chart=chart)

    @app.get("/models/{model}/versions/{version}", response_class=HTMLResponse)
    def version(request: Request, model: str, version: str) -> HTMLResponse:
        return page(request, "version.html", v=catalog.version(model, version))

    @app.get("/models/{model}/versions/{version}/figures/{name}")
    def figure(model: str, version: str, name: str) -> Response:
        shown = catalog.version(model, version)
        if name not in dict(shown["figures"]):
            raise NotFound(f"v{shown['version']} of {model} has no figure {name}")
        place = catalog.place(model)
        try:
            data = fetch_figure(place.reg, shown["version"], name)
        except UserError as exc:
            raise Unreadable(str(exc)) from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=86400, immutable"})

    @app.get("/models/{model}/compare", response_class=HTMLResponse)
    def compare(request: Request, model: str, a: str = "", b: str = "") -> HTMLResponse:
        described = catalog.model(model)
        complete = [row["version"] for row in described["versions"] if row["complete"]]
        a = a or (f"v{complete[-2]}" if len(complete) > 1 else "latest")
        b = b or "latest"
        return page(request, "compare.html", m=described, c=catalog.compare(model, a, b), a=a, b=b)

    @app.get("/models/{model}/drift", response_class=HTMLResponse)
    def drift(request: Request, model: str) -> HTMLResponse:
        return page(request, "drift.html", d=catalog.drift(model))

    @app.get("/models/{model}/drift/{index}/report.png")
    def drift_figure(model: str, index: int) -> Response:
        reports = catalog.drift(model)["reports"]
        if not 0 <= index < len(reports) or not reports[index].get("png"):
            raise NotFound(f"{model} has no such report figure")
        return Response(figure_bytes(reports[index]), media_type="image/png")

    @app.get("/models/{model}/try", response_class=HTMLResponse)
    def try_it(request: Request, model: str, version: str = "latest", example: str = "") -> HTMLResponse:
        place, chosen = catalog.place(model), catalog.version(model, version)
        line = lines.get(chosen["line"])
        key = line.model_named(Path(chosen["metadata"]["artifact_key"]).name).key
        files = examples.of(line, key)
        result, error = None, None
        if example:
            try:
                predictor = predictors.get(place.reg, line, chosen["version"])
                path = examples.find(line, key, example)
                result = answer(predictor, path.read_bytes(), content_type(path, predictor))
            except UserError as exc:
                error = str(exc)
        return page(
            request, "try.html", v=chosen, examples=[p.name for p in files], example=example, result=result, error=error
        )

    @app.post("/models/{model}/versions/{version}/invocations")
    async def invoke(request: Request, model: str, version: str) -> JSONResponse:
        """Your own file, sent by the Try it page's script as its body with its content type."""
        place, chosen = catalog.place(model), catalog.version(model, version)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": f"the file is over {MAX_BODY // 2**20} MB"}, status_code=413)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        try:
            predictor = predictors.get(place.reg, lines.get(chosen["line"]), chosen["version"])
            if kind not in predictor.content_types:
                return JSONResponse({"error": f"this model takes {', '.join(predictor.content_types)}"}, 415)
            return JSONResponse({"version": f"v{chosen['version']}", "predictions": answer(predictor, body, kind)})
        except UserError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return app
