"""For the platform running nudgeflow: liveness, readiness, Prometheus metrics. No credential:
probes and scrapers reach these from inside the deployment."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from nudgeflow.api.problems import documented
from nudgeflow.api.state import EngineDep
from nudgeflow.store import database

router = APIRouter(tags=["operations"], responses=documented(422))  # unknown query parameters


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (answered on the event loop: no thread hop for a liveness probe)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(engine: EngineDep) -> Response:
    """The database answers and every migration is applied."""
    try:
        current = database.is_current(engine.db)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "detail": f"database: {exc}"}, 503)
    if not current:
        detail = "migrations pending: run nudgeflow db upgrade"
        return JSONResponse({"status": "unavailable", "detail": detail}, 503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
    },
)
def metrics(request: Request) -> Response:
    """Prometheus exposition: decisions by rule and outcome, deliveries by channel and result,
    sweep durations, and the due backlog."""
    body = generate_latest(REGISTRY) + generate_latest(request.app.state.backlog)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
