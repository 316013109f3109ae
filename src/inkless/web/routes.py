"""The routes table: every URL Inkless serves, in one place."""

from __future__ import annotations

from aiohttp import web

from inkless.web import api, ops

ROUTES = [
    web.get("/healthz", ops.healthz),
    web.get("/metrics", ops.metrics),
    web.get("/api/v1/openapi.json", api.openapi),
    web.get("/api/v1/documents", api.list_documents),
    web.get("/api/v1/documents/{id}", api.get_document),
    web.get("/api/v1/quarantine", api.list_quarantine),
]
