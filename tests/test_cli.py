"""The `inkless` command line, run as a user runs it (a real process)."""

from __future__ import annotations

import asyncio
import csv
import io
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inkless.bridge.app import Service
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    free_port,
    simple_mail,
    smtp_send,
    wait_for,
    write_config,
)


def inkless(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inkless", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_init_writes_starter_files_and_database(tmp_path: Path) -> None:
    result = inkless("init", "-c", str(tmp_path / "config.yaml"))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["secret_key"] != "change-me" and len(config["secret_key"]) >= 24
    assert (tmp_path / "org.example.yaml").exists() and (tmp_path / "var" / "inkless.db").exists()
    again = inkless("init", "-c", str(tmp_path / "config.yaml"))
    assert again.returncode == 0 and "kept" in again.stdout
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["secret_key"] == config["secret_key"]
    check = inkless("check", "-c", str(tmp_path / "config.yaml"))
    assert check.returncode == 0, check.stderr
    assert "org: " in check.stdout and "(4 units, 13 people)" in check.stdout and "relay: " in check.stdout


@pytest.mark.parametrize(("text", "expected"), [
    ("smtp: {listen: nowhere}\n", "smtp.listen: must be HOST:PORT"),
    ("org: missing.yaml\n", "missing.yaml: file not found"),
])
def test_user_errors_print_one_line_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    for command in (["check"], ["serve"], ["db", "upgrade"]):
        result = inkless(*command, "-c", str(tmp_path / "config.yaml"))
        if command == ["db", "upgrade"] and "org:" in text:
            continue  # db upgrade does not read the org file
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        problems = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
        assert len(problems) == 1 and expected in problems[0], result.stderr


def test_serve_refuses_a_port_in_use_and_an_unreachable_database(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db", None, smtp_port=port)
        result = inkless("serve", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        f"inkless: smtp.listen: cannot listen on 127.0.0.1:{port}: address already in use"
    path = write_config(tmp_path, f"postgresql+asyncpg://nobody:secretpw@127.0.0.1:{free_port()}/x", None)
    result = inkless("serve", "-c", str(path))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("inkless: database: cannot open postgresql+asyncpg://nobody:***@127.0.0.1:")
    assert "secretpw" not in result.stderr


def test_serve_names_an_unset_imap_password_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db", None,
                        imap=[{"url": "imap://oa@127.0.0.1:1/INBOX", "password_env": "INKLESS_TEST_UNSET_PASSWORD"}])
    result = inkless("serve", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "inkless: imap[0].password_env: environment variable INKLESS_TEST_UNSET_PASSWORD is not set"


async def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    smtp_port = free_port()
    path = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db", None, smtp_port=smtp_port,
                        web_port=free_port())
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "inkless", "serve", "-c", str(path),
                                                   stderr=asyncio.subprocess.PIPE)
    stderr = bytearray()  # read all along: a full pipe would stop the service at its next log line

    async def drain() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            stderr.extend(chunk)

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
        except OSError:
            return False
        writer.close()
        return True

    drainer = asyncio.create_task(drain())
    try:
        await wait_for(listening, timeout=30, what="serve listening")
        raw = simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 关机前")
        assert (await smtp_send(smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.send_signal(signal.SIGUSR1)  # every thread's stack, to say where it hangs
            await wait_for(lambda: b"Current thread" in stderr or b"Thread 0x" in stderr, timeout=10,
                           what="the stack dump")
            raise AssertionError("serve did not stop within 30 s of SIGTERM:\n"
                                 + stderr[-20_000:].decode(errors="replace")) from None
        assert code == 0, stderr[-5_000:].decode(errors="replace")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await drainer
    # The message accepted before the stop was issued: the Maildir holds its copies.
    assert len(list((tmp_path / "var" / "outbox" / "new").iterdir())) == 4


async def test_doc_list_show_and_check_show_what_happened(service: Service, relay: CaptureRelay,
                                                          tmp_path: Path) -> None:
    # Refused before anything is sent: the copy to shared@ must meet the 550, not race it.
    relay.refuse["shared@test.gov"] = "550 5.1.1 user unknown"
    raw = simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 表格")
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")
    bad = b"From: fin-clerk@test.gov\r\nSubject: nul\r\n\r\n\x00\r\n"
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], bad)).startswith("250")
    await wait_for(lambda: len(relay.messages) == 3, what="copies")
    config = str(tmp_path / "config.yaml")

    def shown() -> bool:
        return "1 failed" in inkless("doc", "show", "1", "-c", config).stdout

    await wait_for(lambda: asyncio.to_thread(shown), timeout=30, what="the failure recorded")
    result = await asyncio.to_thread(inkless, "doc", "show", "1", "-c", config)
    lines = result.stdout.splitlines()
    assert "表格" in lines[0] and "延财发〔" in lines[0]
    table = {line.split()[0]: line.split()[1:] for line in lines if "@test.gov" in line.split()[0]}
    assert set(table) == {"edu-clerk@test.gov", "edu-staff@test.gov", "shared@test.gov"}
    assert table["shared@test.gov"][-3:] == ["5.1.1", "user", "unknown"]
    assert lines[-1] == "3 recipients: 2 sent, 0 read, 0 acknowledged, 1 failed"
    assert "1 units: 0 signed for, 0 forwarded" in lines
    assert [line.split()[:2] for line in lines if line.startswith("edu ")] == [["edu", "main"]]
    listing = (await asyncio.to_thread(inkless, "doc", "list", "-c", config)).stdout
    assert "2/3" in listing and "表格" in listing
    check = await asyncio.to_thread(inkless, "check", "-c", config)
    assert "quarantine: 1 message(s)" in check.stdout and "NUL bytes" in check.stdout
    exported = await asyncio.to_thread(inkless, "doc", "export", "1", "--format", "csv", "-c", config)
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    [unit] = [r for r in rows if not r["email"]]  # the addressed unit first, then the people
    assert (unit["unit"], unit["role"], unit["acknowledged_at"], unit["by"]) == ("edu", "main", "", "")
    rows = [r for r in rows if r["email"]]
    assert sorted(r["email"] for r in rows) == ["edu-clerk@test.gov", "edu-staff@test.gov", "shared@test.gov"]
    failed = next(r for r in rows if r["email"] == "shared@test.gov")
    assert (failed["failed"], failed["sent_at"]) == ("yes", "") and failed["reason"].startswith("550 5.1.1")
    assert all(r["sent_at"].endswith("+08:00") for r in rows if r["failed"] == "no")
    missing = await asyncio.to_thread(inkless, "doc", "show", "99", "-c", config)
    assert (missing.returncode, missing.stderr.strip()) == (2, "inkless: no document 99")
