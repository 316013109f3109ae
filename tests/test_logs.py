"""Secrets never appear in logs (SPEC §7), including the request URLs HTTP client libraries log.

The service runs with a bot token (against the local Bot API stand-in, whose URLs carry the
token), a relay password (the relay asks for AUTH), a static API token and a secret_key; the
test exercises each (mail in and out, the bot, the API) with every logger at DEBUG, then
searches every record it captured, and the log file of a real `inkless serve`, for each.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from inkless.bridge.app import Service
from inkless.chat import links
from inkless.logs import MASK, hide_secrets, show_secrets
from tests.bridge.test_durability import Fleet
from tests.chat.botapi import FakeBotAPI
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    free_port,
    next_mail,
    simple_mail,
    smtp_send,
    wait_for,
    write_config,
)

BOT_TOKEN = "987654:Bot-Token-Secret-9f3e"
RELAY_USER, RELAY_PASSWORD = "inkless", "Relay-Pass/Secret+7c1"
API_TOKEN = "api-token-secret-52ad90"
SECRET_KEY = "secret-key-never-logged-0b8e41"
SECRETS = (BOT_TOKEN, RELAY_PASSWORD, API_TOKEN, SECRET_KEY)
# The test relay asks for AUTH over plain text on loopback, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class AuthRelay(CaptureRelay):
    """The capture relay, asking for AUTH LOGIN/PLAIN (over plain text: loopback only)."""

    def _session(self) -> SMTP:
        def check(server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                RELAY_USER.encode(), RELAY_PASSWORD.encode())
            return AuthResult(success=ok)

        session = SMTP(self, hostname="relay.test", authenticator=check, auth_required=True,
                       auth_require_tls=False)
        self._sessions.add(session)
        return session


@pytest.fixture
async def auth_relay() -> AsyncIterator[AuthRelay]:
    relay = AuthRelay()
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI(token=BOT_TOKEN)
    await api.start()
    yield api
    await api.stop()


def overrides(relay: AuthRelay, api: FakeBotAPI) -> dict[str, Any]:
    return {
        "secret_key": SECRET_KEY,
        "relay": {"url": f"smtp://{RELAY_USER}:{quote(RELAY_PASSWORD, safe='')}@127.0.0.1:{relay.port}"
                         "?starttls=off"},
        "api": {"tokens": [API_TOKEN]},
        "telegram": {"token": BOT_TOKEN, "base_url": api.base_url, "poll_timeout": 1, "max_per_second": 200,
                     "per_chat_interval": 0},
    }


def leaks(text: str) -> list[str]:
    forms = {form for secret in SECRETS for form in (secret, quote(secret, safe=""), quote(secret))}
    return sorted(form for form in forms if form in text)


async def exercise(smtp_port: int, web_port: int, relay: AuthRelay, api: FakeBotAPI, *,
                   link_code: str | None = None) -> None:
    """Mail in and out through the authenticated relay, the bot, the API (right and wrong token)."""
    assert (await smtp_send(smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"],
                            simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 日志检查"))).startswith("250")
    await next_mail(relay, "edu-staff@test.gov")
    if link_code is not None:
        await api.push_text(f"/start {link_code}", chat_id=7001)
        await api.wait_sent(7001, 1)
        await api.push_text("/desk", chat_id=7001)
        await api.wait_sent(7001, 2)
    async with aiohttp.ClientSession() as http:
        for token in (API_TOKEN, "wrong-token"):
            async with http.get(f"http://127.0.0.1:{web_port}/api/v1/documents",
                                headers={"Authorization": f"Bearer {token}"}) as response:
                await response.read()
        async with http.get(f"http://127.0.0.1:{web_port}/healthz") as response:
            await response.read()


async def test_no_configured_secret_appears_in_any_log_record(
        make_service: Any, auth_relay: AuthRelay, bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service: Service = await make_service(auth_relay, **overrides(auth_relay, bot_api))
    await wait_for(lambda: service.bot is not None and service.bot.state == "ok", what="the bot to start")
    assert service.sessions is not None
    person = service.office().directory.person("edu-staff@test.gov")
    assert person is not None
    async with service.sessions() as session, session.begin():
        code = await links.new_code(session, person.id, now=service.clock.now(), minutes=30)
    await exercise(service.smtp_port, service.web_port, auth_relay, bot_api, link_code=code)
    # The bot's notification of a new document to its linked member went out too.
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"],
                            simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 第二份"))).startswith("250")
    await bot_api.wait_sent(7001, 3)
    assert any(call[0].lower() == "getupdates" for call in bot_api.calls)  # URLs with the token were requested

    records = list(caplog.records)
    assert records, "nothing was logged at all"
    found = {}
    for record in records:
        text = f"{record.name} {record.getMessage()} {record.exc_text or ''} {record.stack_info or ''}"
        if leaks(text):
            found[record.name] = (leaks(text), text[:300])
    assert found == {}
    assert leaks(caplog.text) == []


async def test_a_real_serve_process_logs_no_secret(tmp_path: Path, database_url: str, auth_relay: AuthRelay,
                                                   bot_api: FakeBotAPI) -> None:
    smtp_port, web_port = free_port(), free_port()
    config = write_config(tmp_path, database_url, auth_relay.port, smtp_port=smtp_port, web_port=web_port,
                          **overrides(auth_relay, bot_api))
    async with Fleet(tmp_path) as fleet:
        process = fleet.spawn("serve", config, smtp_port)
        await process.wait_ready(timeout=90)
        await bot_api.wait_until(lambda: any(call[0].lower() == "getupdates" for call in bot_api.calls))
        await exercise(smtp_port, web_port, auth_relay, bot_api)
        assert await process.terminate() == 0, process.log_tail()
    log = process.log_path.read_text(encoding="utf-8", errors="replace")
    assert "inkless serving" in log
    assert leaks(log) == []


def test_records_lose_secrets_whatever_logger_makes_them(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    holder = object()
    hide_secrets(holder, [BOT_TOKEN, "ab"])
    try:
        logging.getLogger("some.library").debug("GET https://api.telegram.org/bot%s/getMe", BOT_TOKEN)
        try:
            raise ConnectionError(f"cannot reach https://api.telegram.org/bot{quote(BOT_TOKEN)}/getUpdates")
        except ConnectionError:
            logging.getLogger("another").exception("polling failed")
        # Too short to hide: two letters would garble every line that holds them.
        logging.getLogger("another").info("about %s", "abc")
    finally:
        show_secrets(holder)
    logging.getLogger("some.library").info("after: %s", BOT_TOKEN)
    first, second, short, after = caplog.records
    assert first.getMessage() == f"GET https://api.telegram.org/bot{MASK}/getMe"
    assert f"bot{MASK}/getUpdates" in (second.exc_text or "")
    assert BOT_TOKEN not in caplog.text.split("after:")[0] and quote(BOT_TOKEN) not in caplog.text
    assert short.getMessage() == "about abc"
    assert after.getMessage() == f"after: {BOT_TOKEN}"  # hidden only while a service runs
