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
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from inkless.config.sections import (
    ApiSection,
    CalendarSection,
    DeskSection,
    DocumentsSection,
    ImapMailbox,
    RelaySection,
    SmtpSection,
    TelegramSection,
    WebSection,
    WecomSection,
    WorkerSection,
    WorkflowSection,
)
from inkless.errors import ConfigError, InklessError

DEFAULT_PATH = "config.yaml"
# Keys whose values are never quoted in an error (it may go to a log or a terminal someone shares).
SECRET_KEYS = frozenset({"secret_key", "secret", "token", "encoding_aes_key", "password", "tokens"})


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
    wecom: WecomSection | None = Field(None, description="The WeCom application; WeCom messages and cards only when set.")
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
    secret = any(str(part) in SECRET_KEYS for part in first["loc"])
    shown = "" if first["type"] in ("missing", "extra_forbidden") or isinstance(value, dict | list) or secret \
        else f" (got {value!r})"
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
            optional = [arg for arg in getattr(annotation, "__args__", ()) if arg is not type(None)]
            if len(optional) == 1 and isinstance(optional[0], type) and issubclass(optional[0], BaseModel) \
                    and name != "imap":
                lines.append(f"| `{prefix}{name}` | `null` | {field.description or ''} |")
                walk(optional[0], f"{prefix}{name}.")
                continue
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
