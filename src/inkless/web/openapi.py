"""The OpenAPI 3.1 description served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 100},
     "description": "page size; values above 1000 are capped"},
    {"name": "before", "in": "query", "schema": {"type": "integer"}, "description": "cursor from `next`"},
    {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "ISO 8601 date or date-time"},
]


def _list_of(ref: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next"], "properties": {
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
        "next": {"type": ["string", "null"]}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Inkless API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": (
            "A token from `inkless api-token create NAME --owner EMAIL --scope read|write` works for its "
            "owner: it sees what the owner may see (drafts only to their sender and approvers, private "
            "events only to their attendees, short messages only to their sender and recipients, the "
            "quarantine only to admins) and a `write` token acts only as the owner (`from`, `organizer`, "
            "`owner`; changing an event is acting as its organiser). An owner with the `admin` role sees "
            "everything and may act for anyone. A `read` token may only GET (403 otherwise). Each token may "
            "make 100 requests at once and 10 a second after that (429 with Retry-After past it). The static "
            "tokens of the config's `api.tokens` are the operator's: they see everything, act for anyone "
            "and are not rate-limited.")}},
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            "Attachment": {"type": "object", "properties": {
                "filename": {"type": "string"}, "size": {"type": "integer"}, "sha256": {"type": "string"}}},
            "Version": {"type": "object", "properties": {
                "version": {"type": "integer"}, "created_at": _TIME, "body": {"type": "string"},
                "attachments": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}}},
            "Approval": {"type": "object", "properties": {
                "version": {"type": "integer"}, "approver": {"type": "string"},
                "decision": {"enum": ["approve", "reject", None]}, "comment": {"type": ["string", "null"]},
                "decided_at": _TIME, "channel": {"enum": ["mail", "web", "bot", None]},
                "unit": {"type": "string", "description": "the unit whose chain this step is (联合发文)"},
                "on_behalf_of": {"type": ["string", "null"],
                                 "description": "the member a delegate decided for; `approver` is then the delegate"}}},
            "Recipient": {"type": "object", "properties": {
                "email": {"type": "string"}, "sent_at": _TIME, "delivered_at": _TIME, "read_at": _TIME,
                "acknowledged_at": _TIME, "failed": {"type": "boolean"}, "reason": {"type": ["string", "null"]},
                "comment": {"type": ["string", "null"]}, "copy_number": {"type": ["integer", "null"]}}},
            "Document": {"type": "object", "properties": {
                "id": {"type": "integer"}, "number": {"type": ["string", "null"]},
                "type": {"type": ["string", "null"]}, "title": {"type": "string"},
                "status": {"enum": ["pending_approval", "rejected", "issued"]}, "public": {"type": "boolean"},
                "sender": {"type": "string"}, "unit": {"type": "string"}, "created_at": _TIME, "issued_at": _TIME,
                "versions": {"type": "array", "items": {"$ref": "#/components/schemas/Version"}},
                "approvals": {"type": "array", "items": {"$ref": "#/components/schemas/Approval"}},
                "recipients": {"type": "array", "items": {"$ref": "#/components/schemas/Recipient"}},
                "direction": {"enum": ["outgoing", "incoming"]}, "source_organ": {"type": ["string", "null"]},
                "source_number": {"type": ["string", "null"]}, "incoming_number": {"type": ["string", "null"]},
                "parent_id": {"type": ["integer", "null"]},
                "answers_id": {"type": ["integer", "null"], "description": "the 请示 this 批复 answers"},
                "answered_by": {"type": "array", "items": {"type": "integer"}},
                "units": {"type": "array", "items": {"$ref": "#/components/schemas/DocumentUnit"}},
                "urgency": {"enum": ["特急", "加急", None]}, "signer": {"type": ["string", "null"]},
                "issue_date": {"type": ["string", "null"], "format": "date"},
                "co_issuers": {"type": "array", "items": {"type": "string"}}}},
            "DocumentUnit": {"type": "object", "properties": {
                "unit": {"type": "string"}, "role": {"enum": ["main", "copy"]}, "acknowledged_at": _TIME,
                "by": {"type": ["string", "null"]}}},
            "TreeNode": {"type": "object", "properties": {
                "id": {"type": "integer"}, "number": {"type": ["string", "null"]}, "unit": {"type": "string"},
                "status": {"type": "string"}, "title": {"type": ["string", "null"]},
                "units": {"type": "array", "items": {"$ref": "#/components/schemas/DocumentUnit"}},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/TreeNode"}}}},
            "Attendee": {"type": "object", "properties": {
                "email": {"type": "string"}, "name": {"type": ["string", "null"]},
                "partstat": {"enum": ["NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE"]},
                "comment": {"type": ["string", "null"]}, "responded_at": _TIME,
                "channel": {"enum": ["mail", "itip", "web", "bot", None]}}},
            "Event": {"type": "object", "properties": {
                "id": {"type": "integer"}, "uid": {"type": "string"}, "kind": {"enum": ["meeting", "schedule"]},
                "title": {"type": "string"}, "start": _TIME, "end": _TIME, "all_day": {"type": "boolean"},
                "location": {"type": ["string", "null"]}, "description": {"type": ["string", "null"]},
                "requirements": {"type": ["string", "null"]}, "organizer": {"type": "string"},
                "units": {"type": "array", "items": {"type": "string"}}, "person_id": {"type": ["integer", "null"]},
                "private": {"type": "boolean"}, "sequence": {"type": "integer"},
                "status": {"enum": ["CONFIRMED", "CANCELLED"]}, "created_at": _TIME, "updated_at": _TIME,
                "attendees": {"type": "array", "items": {"$ref": "#/components/schemas/Attendee"}}}},
            "EventChange": {"type": "object", "additionalProperties": False, "properties": {
                "title": {"type": "string"}, "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"}, "all_day": {"type": "boolean"},
                "location": {"type": "string"}, "description": {"type": "string"},
                "requirements": {"type": "string"}, "private": {"type": "boolean"}}},
            "NewEvent": {"type": "object", "additionalProperties": False, "required": ["title", "start", "organizer"],
                         "properties": {
                "kind": {"enum": ["meeting", "schedule"], "default": "meeting"},
                "title": {"type": "string"}, "start": {"type": "string", "format": "date-time",
                                                       "description": "without offset: in the configured timezone"},
                "end": {"type": "string", "format": "date-time", "description": "default: an hour (a day) later"},
                "all_day": {"type": "boolean"}, "location": {"type": "string"}, "description": {"type": "string"},
                "requirements": {"type": "string"}, "private": {"type": "boolean"},
                "organizer": {"type": "string", "description": "email of an org member"},
                "to": {"type": "array", "items": {"type": "string"}, "description": "unit ids or \"all\""},
                "person": {"type": "string", "description": "schedule entry for this member only"}}},
            "NewMessage": {"type": "object", "additionalProperties": False, "required": ["from", "to", "text"],
                           "properties": {
                "from": {"type": "string", "description": "email of an org member"},
                "to": {"type": "array", "items": {"type": "string"}, "description": "unit ids, \"all\" or emails"},
                "text": {"type": "string", "maxLength": 500}}},
            "ShortMessage": {"type": "object", "properties": {
                "id": {"type": "integer"}, "from": {"type": "string"}, "unit": {"type": "string"},
                "text": {"type": "string"}, "to": {"type": "array", "items": {"type": "string"}},
                "source": {"enum": ["mail", "api", "bot"]}, "created_at": _TIME,
                "recipients": {"type": "array", "items": {"type": "object", "properties": {
                    "email": {"type": "string"}, "channel": {"enum": ["bot", "mail"]}, "sent_at": _TIME,
                    "read_at": _TIME, "failed": {"type": "boolean"}, "reason": {"type": ["string", "null"]}}}}}},
            "Task": {"type": "object", "properties": {
                "id": {"type": "integer"}, "title": {"type": "string"}, "unit": {"type": "string"},
                "owner": {"type": "string"}, "deadline": {"type": "string", "format": "date"},
                "status": {"enum": ["open", "in_progress", "done"]}, "overdue": {"type": "boolean"},
                "requirements": {"type": ["string", "null"]},
                "progress": {"type": "array", "items": {"type": "object", "properties": {
                    "at": _TIME, "by": {"type": "string"}, "text": {"type": "string"},
                    "kind": {"enum": ["progress", "done", "extension_asked", "extension_granted",
                                      "extension_refused"]}}}},
                "extension": {"type": ["object", "null"]}, "created_at": _TIME, "closed_at": _TIME}},
            "NewTask": {"type": "object", "additionalProperties": False,
                        "required": ["title", "owner", "to", "deadline"], "properties": {
                "title": {"type": "string"}, "owner": {"type": "string", "description": "email of an org member"},
                "to": {"type": "array", "items": {"type": "string"}, "description": "unit ids (a task each)"},
                "deadline": {"type": "string", "format": "date"}, "requirements": {"type": "string"},
                "body": {"type": "string"}}},
            "QuarantineEntry": {"type": "object", "properties": {
                "id": {"type": "integer"}, "received_at": _TIME, "mail_from": {"type": ["string", "null"]},
                "rcpt_to": {"type": "array", "items": {"type": "string"}}, "size": {"type": "integer"},
                "reason": {"type": ["string", "null"]}}},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/documents": {"get": {
            "summary": "List documents, newest first (those the token's owner may see)",
            "parameters": _PAGING + [
                {"name": "status", "in": "query", "schema": {"enum": ["pending_approval", "rejected", "issued"]}},
                {"name": "unit", "in": "query", "schema": {"type": "string"}, "description": "issuing unit id"},
                {"name": "q", "in": "query", "schema": {"type": "string"},
                 "description": "text in the number, title, body, attachment names or attachments' text (any "
                                "substring: Chinese needs no spaces)"},
                {"name": "type", "in": "query", "schema": {"type": "string"}, "description": "文种, e.g. 通知"},
                {"name": "until", "in": "query", "schema": {"type": "string"},
                 "description": "created before this ISO 8601 date or date-time"},
                {"name": "box", "in": "query", "schema": {"enum": ["received", "sent", "pending", "drafts"]},
                 "description": "what the token's owner (or `as`) received, sent (they or their unit), must "
                                "decide, or drafted"},
                {"name": "as", "in": "query", "schema": {"type": "string"},
                 "description": "a member's email: read as them (tokens that see everything only)"},
            ],
            "responses": {"200": {"description": "a page of documents",
                                  "content": {"application/json": {"schema": _list_of("Document")}}},
                          "400": _ERROR, "401": _ERROR}}},
        "/api/v1/documents/{id}": {"get": {
            "summary": "One document with versions, approvals and recipients",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the document", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Document"}}}}, "401": _ERROR, "404": _ERROR}}},
        "/api/v1/documents/{id}/tree": {"get": {
            "summary": "The document and its forwards (转发) at every level, with each level's unit signing",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the cascade", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/TreeNode"}}}}, "401": _ERROR, "404": _ERROR}}},
        "/api/v1/quarantine": {"get": {
            "summary": "Messages that could not be processed, with the reason (tokens of admins only)",
            "parameters": _PAGING,
            "responses": {"200": {"description": "a page of quarantine entries",
                                  "content": {"application/json": {"schema": _list_of("QuarantineEntry")}}},
                          "400": _ERROR, "401": _ERROR}}},
        "/api/v1/events": {
            "get": {
                "summary": "List meetings and schedule entries, newest first (private ones only to their "
                           "attendees)",
                "parameters": _PAGING + [
                    {"name": "status", "in": "query", "schema": {"enum": ["CONFIRMED", "CANCELLED"]}},
                    {"name": "unit", "in": "query", "schema": {"type": "string"}, "description": "addressed unit"},
                    {"name": "until", "in": "query", "schema": {"type": "string"}, "description": "start before"},
                ],
                "responses": {"200": {"description": "a page of events",
                                      "content": {"application/json": {"schema": _list_of("Event")}}},
                              "400": _ERROR, "401": _ERROR}},
            "post": {
                "summary": "Create a meeting (invitations are sent) or a schedule entry",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewEvent"}}}},
                "responses": {"201": {"description": "the event", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Event"}}}}, "400": _ERROR, "401": _ERROR}}},
        "/api/v1/events/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "get": {"summary": "One event with its attendees and their answers",
                    "responses": {"200": {"description": "the event", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Event"}}}}, "401": _ERROR, "404": _ERROR}},
            "patch": {"summary": "Change an event; SEQUENCE goes up and attendees get the update",
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/EventChange"}}}},
                      "responses": {"200": {"description": "the event", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Event"}}}},
                          "400": _ERROR, "401": _ERROR, "404": _ERROR, "409": _ERROR}},
            "delete": {"summary": "Cancel an event; attendees get a CANCEL",
                       "responses": {"200": {"description": "the cancelled event", "content": {"application/json": {
                           "schema": {"$ref": "#/components/schemas/Event"}}}}, "401": _ERROR, "404": _ERROR}}},
        "/api/v1/messages": {"post": {
            "summary": "Send a short message: by the chat bot to linked people, by mail to the rest",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NewMessage"}}}},
            "responses": {"202": {"description": "stored and queued", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"id": {"type": "integer"}}}}}},
                "400": _ERROR, "401": _ERROR}}},
        "/api/v1/messages/{id}": {"get": {
            "summary": "A short message with each recipient's channel and sent / read / failed",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the message", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ShortMessage"}}}}, "401": _ERROR, "404": _ERROR}}},
        "/api/v1/tasks": {
            "get": {
                "summary": "Supervision tasks, newest first",
                "parameters": _PAGING + [
                    {"name": "unit", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"enum": ["open", "in_progress", "done"]}},
                    {"name": "overdue", "in": "query", "schema": {"enum": ["true", "false"]}},
                ],
                "responses": {"200": {"description": "a page of tasks",
                                      "content": {"application/json": {"schema": _list_of("Task")}}},
                              "400": _ERROR, "401": _ERROR}},
            "post": {
                "summary": "Assign a task to each unit in `to`",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewTask"}}}},
                "responses": {"201": {"description": "the tasks", "content": {"application/json": {
                    "schema": _list_of("Task")}}}, "400": _ERROR, "401": _ERROR}}},
        "/api/v1/tasks/{id}": {"get": {
            "summary": "One task with its progress",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the task", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Task"}}}}, "401": _ERROR, "404": _ERROR}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    },
}

# Every operation may answer 400 (a URL with control characters is refused before routing,
# a body that is not JSON however deeply nested), 403 (the token may not: scope, owner),
# 415 (a request body with Content-Encoding is refused, never inflated) and 429 (the token's
# rate limit).
_REFUSALS = {"400": _ERROR, "403": {**_ERROR, "description": "the token may not do this (scope or owner)"},
             "415": {**_ERROR, "description": "Content-Encoding on a request is refused"},
             "429": {**_ERROR, "description": "too many requests with this token; see Retry-After"}}
for _item in OPENAPI["paths"].values():
    for _method, _operation in _item.items():
        if _method != "parameters" and _operation is not OPENAPI["paths"]["/api/v1/openapi.json"]["get"]:
            for _status, _answer in _REFUSALS.items():
                _operation["responses"].setdefault(_status, _answer)
