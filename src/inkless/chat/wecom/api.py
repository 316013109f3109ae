"""WeCom's server API (企业微信服务端 API) for one self-built application.

`gettoken` with the corp secret gives an access token, cached until shortly before its
`expires_in` and fetched again when WeCom says it expired or is invalid (40014, 42001,
42007, 42009). Every call answers `{"errcode": N, "errmsg": …}`; `WecomError` carries both.
Access tokens travel in the query string, so each one is registered with the log redactor
the moment it is fetched, and no error message here ever quotes a request URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from inkless.config.sections import WecomSection
from inkless.logs import hide_secrets, show_secrets

TOKEN_ERRORS = frozenset({40014, 42001, 42007, 42009})
# WeCom's answers are a few hundred bytes.
MAX_ANSWER = 64 * 1024
# Access tokens hidden from logs: the current one and a few before it (still quoted by late lines).
KEEP_HIDDEN = 8
# A token is fetched again this long before WeCom says it expires.
TOKEN_MARGIN = 300.0


class WecomError(Exception):
    """WeCom answered with an errcode other than 0."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeCom errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class WecomUnavailable(Exception):
    """WeCom could not be reached, or did not answer with JSON."""


class WecomApi:
    """Calls to the API root `wecom.base_url` with a cached access token."""

    def __init__(self, settings: WecomSection) -> None:
        self.settings = settings
        self._http: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._issued: list[str] = []

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        show_secrets(self)

    async def token(self, *, fresh: bool = False) -> str:
        """The access token (fetched once for concurrent callers)."""
        async with self._lock:
            if fresh or self._token is None or time.monotonic() >= self._expires:
                answer = await self._request("GET", "gettoken", params={
                    "corpid": self.settings.corp_id, "corpsecret": self.settings.secret})
                token = answer.get("access_token")
                if not isinstance(token, str) or not token:
                    raise WecomUnavailable("gettoken answered without an access_token")
                self._issued = [*self._issued[-(KEEP_HIDDEN - 1):], token]
                hide_secrets(self, set(self._issued))
                expires_in = answer.get("expires_in")
                lifetime = float(min(expires_in, 7200)) if isinstance(expires_in, int) and expires_in > 0 else 7200.0
                self._token, self._expires = token, time.monotonic() + max(60.0, lifetime - TOKEN_MARGIN)
            return self._token

    async def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `cgi-bin/<method>` with the token; once more with a new token if WeCom refused it."""
        for attempt in range(2):
            token = await self.token(fresh=attempt > 0)
            try:
                return await self._request("POST", method, params={"access_token": token}, body=body)
            except WecomError as error:
                if error.errcode not in TOKEN_ERRORS or attempt:
                    raise
        raise AssertionError("unreachable")

    async def _request(self, verb: str, method: str, *, params: dict[str, str],
                       body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        url = f"{self.settings.base_url}/cgi-bin/{method}"
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        try:
            async with self._http.request(verb, url, params=params, data=data,
                                          headers={"Content-Type": "application/json"} if data else None) as response:
                if response.status != 200:
                    raise WecomUnavailable(f"{method}: HTTP {response.status}")
                raw = await response.content.read(MAX_ANSWER + 1)
                if len(raw) > MAX_ANSWER:
                    raise WecomUnavailable(f"{method}: the answer is larger than {MAX_ANSWER} bytes")
        except aiohttp.ClientError as error:
            # Not str(error): some aiohttp errors quote the URL, and the URL holds the token.
            raise WecomUnavailable(f"{method}: {type(error).__name__}") from None
        except asyncio.TimeoutError:
            raise WecomUnavailable(f"{method}: no answer within {self.settings.timeout:g} s") from None
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):
            raise WecomUnavailable(f"{method}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise WecomUnavailable(f"{method}: the answer is not a JSON object")
        errcode = answer.get("errcode", 0)
        if errcode != 0:
            raise WecomError(int(errcode) if isinstance(errcode, int) else -1, str(answer.get("errmsg", ""))[:200])
        return answer
