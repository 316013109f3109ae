#!/usr/bin/env python3
"""Approval latency (SPEC §8): an approver's reply in → the next approver's copy accepted by the relay.

One run:
  1. starts `inkless serve` (SQLite by default, --postgres URL for PostgreSQL) with a unit
     whose sign-off chain has two approvers, and a relay that is an aiosmtpd server in this
     process, recording when each message is accepted;
  2. submits --count documents and waits for the first approver's requests;
  3. answers them one by one with a reply as a mail client writes it ("同意" over a quoted
     original) and measures from the start of the SMTP session to the moment the relay
     accepts the second approver's request for that document;
  4. as baseline, measures the raw SMTP round trip of this machine: the same client sending
     one message straight to the same relay, --count times.
Prints p50 and p95 of both and their ratio; writes bench/results/approval.md (approval-pg.md with
--postgres) and the same figures as rows for bench/summary.py in approval.json (approval-pg.json).

usage: .venv/bin/python bench/approval.py [--count 200] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/x]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import SMTP as SMTP_POLICY
from email.policy import default
from pathlib import Path

import aiosmtplib
import yaml
from aiosmtpd.smtp import SMTP, Envelope, Session
from common import drop_scratch, free_port, percentile, run_and_report, scratch_database
from rows import ResultRow, row

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOMAIN = "oa.bench.gov"
CLERK, FIRST, SECOND = "clerk@bench.gov", "first@bench.gov", "second@bench.gov"


class Relay:
    """The relay Inkless delivers to: records each accepted message with its arrival time."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[tuple[float, Message]]] = {}
        self.changed = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.perf_counter()
        message = message_from_bytes(envelope.original_content or b"", policy=default)
        for rcpt in envelope.rcpt_tos:
            self.arrivals.setdefault(rcpt, []).append((now, message))
        self.changed.set()
        return "250 OK"

    async def wait_count(self, rcpt: str, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.arrivals.get(rcpt, [])) < count:
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{rcpt}: {len(self.arrivals.get(rcpt, []))} of {count} messages")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass


def write_config(folder: Path, database: str, relay_port: int, smtp_port: int, web_port: int) -> Path:
    org = {"units": [
        {"id": "bench", "name": "基准单位", "doc_prefix": "基准", "approvers": [FIRST, SECOND], "members": [
            {"email": CLERK, "roles": ["clerk"]}, {"email": FIRST, "roles": ["leader"]},
            {"email": SECOND, "roles": ["leader"]}]},
        {"id": "readers", "name": "收文单位", "members": [{"email": "reader@bench.gov"}]},
    ]}
    (folder / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    config = {
        "domain": DOMAIN, "database": database, "secret_key": secrets.token_hex(16), "org": "org.yaml",
        "smtp": {"listen": f"127.0.0.1:{smtp_port}"}, "web": {"listen": f"127.0.0.1:{web_port}"},
        "relay": {"url": f"smtp://127.0.0.1:{relay_port}?starttls=off"},
        "worker": {"scheduler_interval": 3600},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def document(index: int) -> bytes:
    message = EmailMessage()
    message["From"] = CLERK
    message["To"] = f"readers@{DOMAIN}"
    message["Subject"] = f"[请示] 基准第{index}号"
    message.set_content("请审批。\n" * 20)
    return message.as_bytes(policy=SMTP_POLICY)


def approval_reply(request: Message) -> bytes:
    original = request.get_body(("plain",))
    quoted = "\n".join("> " + line for line in (original.get_content() if original else "").splitlines())
    message = EmailMessage()
    message["From"] = FIRST
    message["To"] = str(request["Reply-To"])
    message["Subject"] = "回复：" + str(request["Subject"])
    message["In-Reply-To"] = message["References"] = str(request["Message-ID"])
    message.set_content(f"同意\n\n{CLERK} 于2026年11月27日周五 09:30写道：\n\n{quoted}\n")
    return message.as_bytes(policy=SMTP_POLICY)


async def send(port: int, sender: str, rcpt: str, data: bytes) -> None:
    await aiosmtplib.send(data, sender=sender, recipients=[rcpt], hostname="127.0.0.1", port=port,
                          start_tls=False, timeout=30)


async def wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"inkless serve exited: {log.read_text()[-2000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError("inkless serve did not listen")


async def run(args: argparse.Namespace) -> tuple[str, list[ResultRow]]:
    relay = Relay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(relay, hostname="relay.bench"), "127.0.0.1", 0)
    relay_port = server.sockets[0].getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="inkless-bench-approval-"))
    database, pg_name = await scratch_database(args.postgres, folder)
    smtp_port, web_port = free_port(), free_port()
    log = folder / "serve.log"
    process = subprocess.Popen([str(REPO / ".venv" / "bin" / "inkless"), "serve", "-c",
                                str(write_config(folder, database, relay_port, smtp_port, web_port))],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        await wait_port(smtp_port, process, log)
        for index in range(args.count):
            await send(smtp_port, CLERK, f"readers@{DOMAIN}", document(index))
        await relay.wait_count(FIRST, args.count)
        requests = {str(m["Subject"]): m for _, m in relay.arrivals[FIRST]}
        latencies = []
        for index in range(args.count):
            title = f"[待签发] 基准第{index}号（第1版）"
            request = requests[title]
            seen = len(relay.arrivals.get(SECOND, []))
            started = time.perf_counter()
            await send(smtp_port, FIRST, str(request["Reply-To"]), approval_reply(request))
            await relay.wait_count(SECOND, seen + 1)
            arrived, message = relay.arrivals[SECOND][seen]
            assert str(message["Subject"]) == title, (message["Subject"], title)
            latencies.append((arrived - started) * 1000)
        baseline = []
        probe = document(0)
        for _ in range(args.count):
            seen = len(relay.arrivals.get("probe@bench.gov", []))
            started = time.perf_counter()
            await send(relay_port, CLERK, "probe@bench.gov", probe)
            await relay.wait_count("probe@bench.gov", seen + 1)
            baseline.append((relay.arrivals["probe@bench.gov"][seen][0] - started) * 1000)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
        await drop_scratch(args.postgres, pg_name)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    b50, b95 = percentile(baseline, 0.5), percentile(baseline, 0.95)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    scenario, figure = f"{backend}, {args.count} approvals", "reply in → next approver's copy at the relay"
    baseline_name = "raw SMTP round trip to the same relay"
    rows = [row("approval", scenario, f"p50 ms, {figure}", p50, "ms", baseline_name, b50, p50 / b50, "p50 ≤ 100 ms",
                p50 <= 100),
            row("approval", scenario, f"p95 ms, {figure}", p95, "ms", baseline_name, b95, p95 / b95)]
    return "\n".join([
        f"# Approval latency ({backend}, {args.count} approvals, {os.cpu_count()} cores)",
        "",
        "| measurement | p50 ms | p95 ms | mean ms |",
        "| --- | --- | --- | --- |",
        f"| reply in → next approver's copy accepted by the relay | {p50:.1f} | {p95:.1f} | "
        f"{statistics.mean(latencies):.1f} |",
        f"| baseline: raw SMTP round trip to the same relay | {b50:.1f} | {b95:.1f} | {statistics.mean(baseline):.1f} |",
        "",
        f"p50 ratio to the baseline: {p50 / b50:.1f}×; target p50 ≤ 100 ms: {'met' if p50 <= 100 else 'NOT met'}.",
    ]), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--postgres", help="postgresql+asyncpg://user@host:port/anydb (a scratch database is made)")
    args = parser.parse_args()
    return run_and_report(run(args), HERE / "results" / ("approval-pg.md" if args.postgres else "approval.md"))


if __name__ == "__main__":
    sys.exit(main())
