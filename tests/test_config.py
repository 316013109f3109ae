"""Configuration: defaults, layering from the environment, one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkless.config import load_config, reference
from inkless.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_works_as_is_and_matches_the_starter() -> None:
    config = load_config(REPO / "config.yaml")
    assert config.database_url == f"sqlite+aiosqlite:///{REPO / 'var' / 'inkless.db'}"
    assert config.maildir_path == REPO / "var" / "outbox"
    assert config.org_path == REPO / "org.example.yaml"
    assert (config.smtp.listen, config.web.listen, config.language) == ("127.0.0.1:8025", "127.0.0.1:8080", "zh")
    starter = REPO / "src" / "inkless" / "starter"
    assert (REPO / "config.yaml").read_text() == (starter / "config.yaml").read_text()
    assert (REPO / "org.example.yaml").read_text() == (starter / "org.example.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smtp: {listn: x}\n", "config.yaml: smtp.listn: unknown key"),
        ("colour: blue\n", "config.yaml: colour: unknown key"),
        ("smtp: {max_recipients: 0}\n", "config.yaml: smtp.max_recipients: Input should be greater than 0 (got 0)"),
        ("smtp: {listen: '8025'}\n", "config.yaml: smtp.listen: must be HOST:PORT, e.g. 127.0.0.1:8025 (got '8025')"),
        ("relay: {url: 'ftp://x'}\n", "config.yaml: relay.url: scheme must be maildir://, smtp:// or smtps:// (got 'ftp://x')"),
        ("timezone: Mars/Olympus\n", "config.yaml: timezone: unknown time zone (got 'Mars/Olympus')"),
        ("database: mysql://x/y\n", "config.yaml: database: only sqlite+aiosqlite:// and postgresql+asyncpg:// are supported (got 'mysql://x/y')"),
        ("language: fr\n", "config.yaml: language: Input should be 'zh' or 'en' (got 'fr')"),
        ("smtp: [1\n", "config.yaml: line 2: not valid YAML"),
        ("imap: [{url: 'pop3://u@h/INBOX'}]\n", "config.yaml: imap[0].url: scheme must be imap:// or imaps://"),
        ("imap: [{url: 'imap://host/INBOX'}]\n", "config.yaml: imap[0].url: an IMAP URL needs a user and a host"),
        ("imap: [{url: 'imap://u@h/INBOX', processed: 'archive'}]\n",
         "config.yaml: imap[0].processed: must be flag, delete or move:<folder> (got 'archive')"),
        ("calendar: {refresh_minutes: 1}\n",
         "config.yaml: calendar.refresh_minutes: Input should be greater than or equal to 5 (got 1)"),
        ("- a\n- b\n", "config.yaml: must be a mapping of keys to values"),
        ("wecom: {corp_id: ww1, agent_id: 1, secret: s3cret-value, token: tok-1234, encoding_aes_key: short}\n",
         "config.yaml: wecom.encoding_aes_key: must be 43 characters (as WeCom shows it)"),
        ("wecom: {corp_id: ww1, agent_id: 1, secret: s3cret-value, token: tok-1234}\n",
         "config.yaml: wecom.encoding_aes_key: Field required"),
        ("wecom: {corp_id: ww1, agent_id: 1, secret: s3cret-value, token: tok-1234, encoding_aes_key: "
         + "A" * 42 + "!}\n", "config.yaml: wecom.encoding_aes_key: is not base64"),
        ("wecom: [{corp_id: c, secret: s3cret-value}]\n", "config.yaml: wecom: Input should be a valid dictionary"),
        ("api: {tokens: [s3cret-value, 5]}\n", "config.yaml: api.tokens[1]: Input should be a valid string"),
    ],
)
def test_mistakes_name_the_file_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(message)
    assert "\n" not in str(caught.value)
    assert "s3cret-value" not in str(caught.value) and "AAAAAAAA" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "smtp: {listen: '127.0.0.1:2525', max_recipients: 7}\nlanguage: zh\n")
    monkeypatch.setenv("INKLESS_SMTP__LISTEN", "0.0.0.0:25")
    monkeypatch.setenv("INKLESS_LANGUAGE", "en")
    config = load_config(path)
    assert (config.smtp.listen, config.smtp.max_recipients, config.language) == ("0.0.0.0:25", 7, "en")
    monkeypatch.setenv("INKLESS_SMTP__MAX_RECIPIENTS", "many")
    with pytest.raises(ConfigError, match=r"smtp\.max_recipients: Input should be a valid integer"):
        load_config(path)


def test_imap_mailbox_names_folder_and_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "imap:\n  - {url: 'imaps://oa%40county:s%3Acret@mail.county.gov/Inkless%20In'}\n"
                           "  - {url: 'imap://oa@mail.county.gov', password_env: OA_IMAP_PASSWORD}\n")
    monkeypatch.setenv("OA_IMAP_PASSWORD", "from-env")
    first, second = load_config(path).imap
    assert (first.folder, first.password, first.name) == ("Inkless In", "s:cret", "oa@county@mail.county.gov:993/Inkless In")
    assert (second.folder, second.password, second.name) == ("INBOX", "from-env", "oa@mail.county.gov:143/INBOX")


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "domain: oa.county.gov\n")
    monkeypatch.setenv("INKLESS_CONFIG", str(path))
    assert load_config().domain == "oa.county.gov"


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = load_config(write(tmp_path / "etc", "database: sqlite:///data/x.db\nrelay: {url: 'maildir://out'}\n"))
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path}/etc/data/x.db"
    assert config.maildir_path == tmp_path / "etc" / "out"
    assert load_config(write(tmp_path, "database: postgresql://u@h/db\n")).database_url == "postgresql+asyncpg://u@h/db"


def test_reference_lists_every_key_with_help() -> None:
    text = reference()
    for key in ("domain", "smtp.listen", "smtp.max_recipients", "relay.url", "relay.retry_initial", "web.base_url",
                "api.tokens", "workflow.approval_remind_after", "worker.lease"):
        assert f"| `{key}` |" in text
    assert all(line.count("|") >= 4 and not line.endswith("|  |") for line in text.splitlines()[2:])


def test_readme_config_reference_is_current() -> None:
    assert reference() in (REPO / "README.md").read_text(encoding="utf-8")
