"""The one configuration schema: every key with its default, type and help text.

Values are layered file → environment (`INKLESS_SECTION__KEY`). Relative paths in the
file (SQLite database, Maildir outbox, org file) are relative to the file's folder.
`inkless check` and the README's config reference are generated from this schema.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from inkless.errors import ConfigError, InklessError

DEFAULT_PATH = "config.yaml"


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
        description="Relay connections a process sends a round over at once (an MTA takes several from one client).")
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
            url.port
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


class WorkflowSection(Section):
    approval_remind_after: int = Field(1, ge=0, description="Working days before a pending approval is reminded.")
    ack_remind_after: int = Field(2, ge=0, description="Working days before silent recipients are reminded.")
    task_remind_before: list[int] = Field([3, 1], description="Working days before a task deadline to remind.")
    task_escalate_after: int = Field(1, ge=0, description="Overdue working days before a task is escalated.")
    auto_answer_limit: int = Field(
        30, ge=0, description="Automatic answers (clarifications, \"already decided\") per sender per hour."
    )


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


class Config(BaseSettings):
    """The whole configuration of one Inkless installation."""

    model_config = SettingsConfigDict(
        env_prefix="INKLESS_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    domain: str = Field("oa.example.gov", description="Mail domain Inkless answers for.")
    database: str = Field(
        "sqlite+aiosqlite:///var/inkless.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///PATH or postgresql+asyncpg://user@host/db.",
    )
    secret_key: str = Field("change-me", min_length=8, description="Signs reply tokens, feed tokens and links.")
    timezone: str = Field("Asia/Shanghai", description="Time zone for dates in mail, pages and the calendar.")
    language: Literal["zh", "en"] = Field("zh", description="Language of generated mail and pages.")
    org: str | None = Field(None, description="Organisation file, imported at start (idempotent).")
    smtp: SmtpSection = Field(default_factory=lambda: SmtpSection())
    relay: RelaySection = Field(default_factory=lambda: RelaySection())
    imap: list[ImapMailbox] = Field(default_factory=list, description="Mailboxes polled for inbound mail (IMAP ingress).")
    web: WebSection = Field(default_factory=lambda: WebSection())
    api: ApiSection = Field(default_factory=lambda: ApiSection())
    telegram: TelegramSection = Field(default_factory=lambda: TelegramSection())
    workflow: WorkflowSection = Field(default_factory=lambda: WorkflowSection())
    documents: DocumentsSection = Field(default_factory=lambda: DocumentsSection())
    calendar: CalendarSection = Field(default_factory=lambda: CalendarSection())
    desk: DeskSection = Field(default_factory=lambda: DeskSection())
    worker: WorkerSection = Field(default_factory=lambda: WorkerSection())

    # Set by load_config: the folder relative paths are resolved against.
    base_dir: Path = Field(Path("."), exclude=True, description="(internal)")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return env_settings, init_settings

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str) -> str:
        value = value.strip().lower()
        if not value or "@" in value or " " in value or "." not in value:
            raise ValueError("must be a mail domain such as oa.example.gov")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    @field_validator("database")
    @classmethod
    def _check_database(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError("must be a database URL such as sqlite+aiosqlite:///var/inkless.db")
        driver = {"sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite",
                  "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
                  "postgresql+asyncpg": "postgresql+asyncpg"}.get(scheme)
        if driver is None:
            raise ValueError("only sqlite+aiosqlite:// and postgresql+asyncpg:// are supported")
        return f"{driver}://{rest}"

    # Derived values -----------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against base_dir."""
        path = self.sqlite_path
        return f"sqlite+aiosqlite:///{path}" if path is not None else self.database

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None when the database is not SQLite (or in memory)."""
        if not self.database.startswith("sqlite"):
            return None
        raw = self.database.partition(":///")[2].partition("?")[0]
        if raw in ("", ":memory:"):
            return None
        return self.resolve(raw)

    @property
    def is_postgresql(self) -> bool:
        return self.database.startswith("postgresql")

    @property
    def org_path(self) -> Path | None:
        return self.resolve(self.org) if self.org else None

    @property
    def maildir_path(self) -> Path | None:
        url = urlsplit(self.relay.url)
        if url.scheme != "maildir":
            return None
        return self.resolve(unquote(url.netloc + url.path))

    def resolve(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else (self.base_dir / candidate)

    def local_address(self, local_part: str) -> str:
        return f"{local_part}@{self.domain}"


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """The config file to use: the -c option, then $INKLESS_CONFIG, then ./config.yaml."""
    return Path(explicit or os.environ.get("INKLESS_CONFIG") or DEFAULT_PATH)


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read, layer and validate the configuration, raising ConfigError with one clear line."""
    path = config_path(explicit)
    data = read_yaml_mapping(path, ConfigError, missing="file not found (run `inkless init` to write one)",
                             not_mapping="must be a mapping of keys to values")
    return build_config(data, source=str(path), base_dir=path.resolve().parent)


def read_yaml_mapping(path: Path, error: type[InklessError], *, missing: str, not_mapping: str) -> dict[str, Any]:
    """A YAML file's top-level mapping; `error` with one line naming the file (and line) otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise error(f"{path}: {where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{path}: {not_mapping}")
    return data


def build_config(data: dict[str, Any], *, source: str, base_dir: Path) -> Config:
    """Validate a mapping (plus the environment) into a Config; errors name source and key."""
    data = {k: v for k, v in data.items() if k != "base_dir"}
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None
    config.base_dir = base_dir
    return config


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line naming the file, the key path and the offending value."""
    errors = exc.errors()
    first = errors[0]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".") or "(top)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    value = first.get("input")
    shown = "" if first["type"] in ("missing", "extra_forbidden") or isinstance(value, dict) else f" (got {value!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {key}: {message}{shown}{more}"


def reference() -> str:
    """The config reference as Markdown, generated from the schema (for the README and `check`)."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if name == "base_dir":
                continue
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
                continue
            if field.is_required():
                shown = "(required)"
            else:
                default = field.get_default(call_default_factory=True)
                shown = yaml.safe_dump(default, default_flow_style=True).strip()
                shown = shown.removesuffix("\n...").removesuffix("...").strip()
            help_text = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{prefix}{name}` | `{shown}` | {help_text} |")
            item = getattr(annotation, "__args__", (None,))[0]
            if isinstance(item, type) and issubclass(item, BaseModel):
                walk(item, f"{prefix}{name}[].")

    walk(Config, "")
    return "\n".join(lines)
