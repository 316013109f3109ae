"""The sections of config.yaml: one model per key, each field with its default, type and help."""

from __future__ import annotations

import base64
import binascii
import os
import re
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SPAN = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-4]):([0-5]\d)$")


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key a WeCom EncodingAESKey (43 base64 characters) stands for; ValueError if it is not one."""
    if len(encoding_aes_key) != 43:
        raise ValueError("must be 43 characters (as WeCom shows it)")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("is not base64") from None
    if len(key) != 32:
        raise ValueError("does not decode to 32 bytes")
    return key


class Section(BaseModel):
    """A config section: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8025")
    return value


def split_listen(value: str) -> tuple[str, int]:
    """Split a validated `HOST:PORT` into its parts (brackets stripped from IPv6)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class SmtpSection(Section):
    listen: str = Field("127.0.0.1:8025", description="Address the SMTP ingress listens on (HOST:PORT).")
    max_message_size: int = Field(26_214_400, gt=0, description="Largest message accepted, in bytes (552 beyond).")
    max_recipients: int = Field(100, gt=0, description="Most RCPT TO per message; the next one gets 452.")
    hostname: str | None = Field(None, description="Name in the SMTP greeting; defaults to `domain`.")
    trusted_authserv_id: str | None = Field(
        None,
        description="authserv-id of the upstream MTA whose Authentication-Results are trusted; "
        "a dkim=fail or spf=fail there is rejected.",
    )

    _listen = field_validator("listen")(_check_listen)


class RelaySection(Section):
    url: str = Field(
        "maildir://var/outbox",
        description="Where outbound mail goes: maildir://PATH, smtp://user:pass@host:587?starttls=require|off, smtps://host:465.",
    )
    retry_initial: float = Field(30.0, gt=0, description="Seconds before the first retry of a transient failure.")
    retry_max: float = Field(3600.0, gt=0, description="Longest wait between retries, in seconds.")
    give_up_after: float = Field(
        172_800.0, gt=0, description="Seconds after which a message still failing transiently is marked failed."
    )
    batch_size: int = Field(200, gt=0, description="Outbound messages claimed per round.")
    connections: int = Field(
        4, gt=0, le=50,
        description="Relay connections a process sends a round over at once (an MTA takes several from one client); "
                    "kept open from round to round while a backlog lasts.")
    timeout: float = Field(60.0, gt=0, description="Relay connect and command timeout, in seconds.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("maildir", "smtp", "smtps"):
            raise ValueError("scheme must be maildir://, smtp:// or smtps://")
        if scheme != "maildir" and not urlsplit(value).hostname:
            raise ValueError("an SMTP relay URL needs a host")
        return value


class ImapMailbox(Section):
    url: str = Field(description="imap://user:pass@host:143/INBOX or imaps://user@host/INBOX (993); the path is the folder.")
    password_env: str | None = Field(
        None, description="Environment variable holding the password, instead of putting it in the URL; `serve` refuses to start when it is not set.")
    idle: bool = Field(True, description="Use IMAP IDLE when the server offers it.")
    poll_interval: float = Field(60.0, gt=0, description="Seconds between polls without IDLE.")
    processed: str = Field("flag", description="What to do with processed mail: flag | move:<folder> | delete.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("imap", "imaps"):
            raise ValueError("scheme must be imap:// or imaps://")
        if not url.hostname or not url.username:
            raise ValueError("an IMAP URL needs a user and a host: imap://user@host/INBOX")
        try:
            _ = url.port  # reading it checks it: urlsplit raises ValueError for a port that is no number
        except ValueError:
            raise ValueError("the port must be a number") from None
        return value

    @field_validator("processed")
    @classmethod
    def _check_processed(cls, value: str) -> str:
        if value in ("flag", "delete") or (value.startswith("move:") and value[5:].strip()):
            return value
        raise ValueError("must be flag, delete or move:<folder>")

    @property
    def folder(self) -> str:
        return unquote(urlsplit(self.url).path.lstrip("/")) or "INBOX"

    @property
    def password(self) -> str:
        """From password_env when set, else from the URL; empty when neither has one."""
        if self.password_env:
            return os.environ.get(self.password_env, "")
        return unquote(urlsplit(self.url).password or "")

    @property
    def name(self) -> str:
        """How logs, /healthz and /metrics name the mailbox: user@host:port/folder, no password."""
        url = urlsplit(self.url)
        port = url.port or (993 if url.scheme == "imaps" else 143)
        return f"{unquote(url.username or '')}@{url.hostname}:{port}/{self.folder}"


class WebSection(Section):
    listen: str = Field("127.0.0.1:8080", description="Address the web server listens on (HOST:PORT).")
    base_url: str = Field("http://127.0.0.1:8080", description="Public URL of the web server, used in mailed links.")
    session_hours: float = Field(12.0, gt=0, description="How long a sign-in lasts, in hours.")
    signin_link_minutes: float = Field(15.0, gt=0, description="How long a mailed sign-in link works, in minutes.")

    _listen = field_validator("listen")(_check_listen)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class ApiSection(Section):
    tokens: list[str] = Field(default_factory=list, description=(
        "Static bearer tokens for /api/v1: the operator's, as powerful as this file (they see everything, act for "
        "any member, are not rate-limited); give people and programs `inkless api-token create` tokens instead."))


class TelegramSection(Section):
    token: str | None = Field(None, description="Bot token; the chat bot runs only when set.")
    base_url: str | None = Field(
        None, description="Bot API server root (default https://api.telegram.org; tests use a local stand-in).")
    webhook_url: str | None = Field(
        None, description="Public https URL of /telegram/webhook: updates arrive by webhook instead of polling.")
    link_code_minutes: float = Field(30.0, gt=0, description="How long a one-time link code works, in minutes.")
    max_per_second: float = Field(25.0, gt=0, description="Bot messages per second overall (Telegram allows about 30).")
    per_chat_interval: float = Field(1.0, ge=0, description="Seconds between two bot messages to the same chat.")
    poll_timeout: int = Field(10, ge=0, description="Long-poll seconds of getUpdates (polling mode).")

    @field_validator("base_url", "webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value


class WecomSection(Section):
    """A WeCom (企业微信) self-built application: its messages, cards and callback."""

    corp_id: str = Field(min_length=1, max_length=64, description="The organisation's CorpID (我的企业 → 企业信息).")
    agent_id: int = Field(ge=0, description="The application's AgentId.")
    secret: str = Field(min_length=1, description="The application's Secret (for gettoken).")
    token: str = Field(min_length=4, max_length=32, description="The callback Token (接收消息 → API 接收).")
    encoding_aes_key: str = Field(description="The callback EncodingAESKey: 43 characters.")
    base_url: str = Field("https://qyapi.weixin.qq.com", description="WeCom API root (tests use a local stand-in).")
    max_per_second: float = Field(20.0, gt=0, description="WeCom API calls per second overall.")
    timeout: float = Field(15.0, gt=0, le=120, description="Seconds to wait for a WeCom API answer.")
    per_user_interval: float = Field(
        2.0, ge=0, description="Seconds between two messages to the same member (WeCom drops over 30 a minute).")
    replay_window: int = Field(
        300, ge=10, le=3600, description="Seconds a callback's timestamp may differ from now; older ones get 403.")

    @field_validator("encoding_aes_key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        aes_key(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class WorkflowSection(Section):
    approval_remind_after: int = Field(1, ge=0, description="Working days before a pending approval is reminded.")
    ack_remind_after: int = Field(2, ge=0, description="Working days before silent recipients are reminded.")
    task_remind_before: list[int] = Field([3, 1], description="Working days before a task deadline to remind.")
    task_escalate_after: int = Field(1, ge=0, description="Overdue working days before a task is escalated.")
    auto_answer_limit: int = Field(
        30, ge=0, description="Automatic answers (clarifications, \"already decided\") per sender per hour."
    )
    urgent_remind_after_hours: float = Field(
        4.0, gt=0, le=1000, description="Working hours before a pending approval or a silent recipient of a [特急]/[加急] "
                             "document is reminded (instead of working days)."
    )
    working_hours: list[str] = Field(
        ["08:30-12:00", "14:00-17:30"],
        description="Office hours of a working day (HH:MM-HH:MM, in timezone), for counting working hours.",
    )

    @field_validator("working_hours")
    @classmethod
    def _check_hours(cls, value: list[str]) -> list[str]:
        last = -1
        if not value:
            raise ValueError("at least one span HH:MM-HH:MM")
        for span in value:
            match = _SPAN.match(span.strip())
            if match is None:
                raise ValueError(f"'{span}' is not HH:MM-HH:MM")
            start, end = (int(h) * 60 + int(m) for h, m in (match.group(1, 2), match.group(3, 4)))
            if not last < start < end <= 24 * 60:
                raise ValueError(f"'{span}': spans must be in order within a day, each ending after it starts")
            last = end
        return [span.strip() for span in value]


class DocumentsSection(Section):
    extra_types: list[str] = Field(
        default_factory=list, description="Document types (文种) beyond the 15 statutory ones, usable as subject tags."
    )


class CalendarSection(Section):
    refresh_minutes: int = Field(
        60, ge=5, description="How often calendar apps should re-read a feed (REFRESH-INTERVAL, X-PUBLISHED-TTL)."
    )
    past_days: int = Field(90, ge=0, description="How far back a feed reaches: events that ended longer ago drop out.")
    keep_cancelled_days: int = Field(
        30, ge=0, description="Days a cancelled event stays in feeds (as STATUS:CANCELLED) so subscribers see it go."
    )
    digest_before_hours: float = Field(
        24.0, gt=0, description="Hours before a meeting its organiser gets the digest of who has not answered."
    )


class DeskLink(Section):
    title: str = Field(min_length=1, description="Text of the link on the desk, e.g. 县政府门户.")
    url: str = Field(description="Where the link leads: an http:// or https:// URL.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value


class DeskSection(Section):
    links: list[DeskLink] = Field(
        default_factory=list, description="Links shown on everyone's desk (portal, forms, phone book): title and url.")


class WorkerSection(Section):
    poll_interval: float = Field(1.0, gt=0, description="Seconds between looks for work stored by other processes.")
    heartbeat: float = Field(
        15.0, gt=0, description="Seconds a process's heartbeat lasts (renewed every third of it); work claimed by a "
        "process whose heartbeat ran out (kill -9, a crash) is taken over by the others.")
    lease: float = Field(
        300.0, gt=0, description="Seconds after which a claim by a process that left no heartbeat (an older version) "
        "is taken over.")
    stall_after: float = Field(
        60.0, gt=0, description="Seconds a worker may go without progress while it has work before /healthz "
        "reports it stalled (503).")
    scheduler_interval: float = Field(60.0, gt=0, description="Seconds between rounds of reminders and escalations.")
