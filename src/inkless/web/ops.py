"""Operations endpoints: /healthz and /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from inkless import metrics as prom
from inkless.storage import queries
from inkless.web.app import HEALTH, SESSIONS


async def healthz(request: web.Request) -> web.Response:
    """200 with the state of each part when the database answers, 503 otherwise."""
    parts = {name: probe() for name, probe in request.app[HEALTH].items()}
    try:
        async with request.app[SESSIONS]() as session:
            await session.execute(text("SELECT 1"))
            depths = await queries.queue_depths(session)
        parts["database"] = "ok"
    except Exception as exc:
        parts["database"] = f"error: {type(exc).__name__}"
        depths = {}
    # A process standing by for a job another process holds (an IMAP mailbox) is healthy.
    healthy = all(state == "ok" or state.startswith("standby") for state in parts.values())
    return web.json_response({"status": "ok" if healthy else "degraded", "parts": parts, "queues": depths},
                             status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; queue depths are read from the database at scrape time."""
    async with request.app[SESSIONS]() as session:
        for queue, depth in (await queries.queue_depths(session)).items():
            prom.QUEUE_DEPTH.labels(queue).set(depth)
    response = web.Response(body=generate_latest(prom.REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
