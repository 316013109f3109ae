"""The routes table: every URL Inkless serves, in one place."""

from __future__ import annotations

from aiohttp import web

from inkless.web import admin, api, board, chat, desk, events_api, feeds, ops, pages, signin, tasks_api

ROUTES = [
    web.get("/", desk.home),
    web.get("/signin", signin.signin_form),
    web.post("/signin", signin.signin_request),
    web.get("/signin/{token}", signin.signin_confirm),
    web.post("/signin/{token}", signin.signin_spend),
    web.post("/signout", signin.signout),
    web.get("/static/inkless.css", pages.stylesheet),
    web.get("/documents/{id}", pages.tracking),
    web.get("/ack/{token}", pages.ack_page),
    web.post("/ack/{token}", pages.ack_confirm),
    web.get("/desk", desk.desk),
    web.post("/desk/approvals/{id}", desk.decide_approval),
    web.post("/desk/receipts/{id}", desk.acknowledge),
    web.post("/desk/meetings/{id}", desk.answer_meeting),
    web.post("/desk/feed", desk.rotate_feed),
    web.post("/desk/chat-code", desk.chat_code),
    web.get("/tasks", board.board),
    web.get("/admin", admin.admin_page),
    web.get(r"/admin/inbound/{id:\d+}.eml", admin.raw_message),
    web.post("/admin/inbound/{id}/reprocess", admin.reprocess),
    web.post("/admin/outbox/{id}/retry", admin.retry),
    web.get("/public", pages.public_list),
    web.get("/public/feed.atom", pages.public_feed),
    web.get("/public/{id}", pages.public_document),
    web.get("/calendar/{name}", feeds.calendar_feed),
    web.get("/healthz", ops.healthz),
    web.get("/metrics", ops.metrics),
    web.get("/api/v1/openapi.json", api.openapi),
    web.get("/api/v1/documents", api.list_documents),
    web.get("/api/v1/documents/{id}", api.get_document),
    web.get("/api/v1/quarantine", api.list_quarantine),
    web.post("/api/v1/messages", chat.post_message),
    web.get("/api/v1/messages/{id}", chat.get_message),
    web.post("/telegram/webhook/{secret}", chat.telegram_webhook),
    web.get("/api/v1/events", events_api.list_events),
    web.post("/api/v1/events", events_api.create_event),
    web.get("/api/v1/events/{id}", events_api.get_event),
    web.patch("/api/v1/events/{id}", events_api.change_event),
    web.delete("/api/v1/events/{id}", events_api.cancel_event),
    # tasks API routes are added by the tasks work
    web.get("/api/v1/tasks", tasks_api.list_tasks),
    web.post("/api/v1/tasks", tasks_api.create_task),
    web.get("/api/v1/tasks/{id}", tasks_api.get_task),
]
