"""Operations endpoints: /healthz and /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from inkless import metrics as prom
from inkless.storage import queries
from inkless.web.keys import HEALTH, SESSIONS


async def healthz(request: web.Request) -> web.Response:
    """200 when every part is ok; otherwise 503 with `reason` naming the parts that are not
    (a stopped part, the database away, a worker stalled on work it cannot finish)."""
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
    failing = {name: state for name, state in parts.items() if state != "ok" and not state.startswith("standby")}
    body: dict[str, object] = {"status": "degraded" if failing else "ok", "parts": parts, "queues": depths}
    if failing:
        body["reason"] = "; ".join(f"{name}: {state}" for name, state in failing.items())
    return web.json_response(body, status=503 if failing else 200)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; queue depths are read from the database at scrape time."""
    async with request.app[SESSIONS]() as session:
        for queue, depth in (await queries.queue_depths(session)).items():
            prom.QUEUE_DEPTH.labels(queue).set(depth)
    response = web.Response(body=generate_latest(prom.REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
