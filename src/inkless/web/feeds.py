"""`GET /calendar/<token>.ics`: the feed calendar apps subscribe to.

Conditional requests (If-None-Match, If-Modified-Since) are answered 304 from the token
look-up alone; full answers come from the per-process cache or are assembled from stored
event text, gzipped when the client accepts it.
"""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from inkless.calendar import feeds
from inkless.storage.engine import reading
from inkless.web.keys import CLOCK, CONFIG, FEED_CACHE, OFFICE, SESSIONS

NOT_FOUND = "no such calendar feed\n"


def _not_modified(request: web.Request, version: feeds.Version) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or version.etag in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        return since.tzinfo is not None and version.last_modified <= since
    return False


async def calendar_feed(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    token = name.removesuffix(".ics")
    config, clock = request.app[CONFIG], request.app[CLOCK]
    async with reading(request.app[SESSIONS]) as connection:
        # Unknown and revoked tokens take the same look-up as live ones before the answer.
        found = await feeds.resolve(connection, token) if name.endswith(".ics") else None
    if found is None:
        raise web.HTTPNotFound(text=NOT_FOUND)
    now = clock.now()
    version = feeds.version_of(found, config, now)
    headers = {"ETag": version.etag, "Last-Modified": format_datetime(version.last_modified, usegmt=True),
               "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    if _not_modified(request, version):
        return web.Response(status=304, headers=headers)
    cache = request.app[FEED_CACHE]
    rendered = cache.get(version.etag)
    if rendered is None:
        # Rendered after the look-up, the content is at least as new as the ETag's generation:
        # a change in between bumps the generation, so the next request fetches it again anyway.
        async with request.app[SESSIONS]() as session:
            rendered = await feeds.render_feed(session, config, found, request.app[OFFICE]().directory, now=now)
            if rendered is None:
                raise web.HTTPNotFound(text=NOT_FOUND)
            cache.put(version.etag, rendered)
    body = rendered.body
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = await rendered.gzipped()
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers, content_type="text/calendar", charset="utf-8")
