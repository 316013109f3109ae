#!/usr/bin/env python3
"""Big message (SPEC §7 "Bounded cost", §8): one 25 MB message to a 100-member unit, then four at once.

Targets: peak RSS ≤ idle + 3 × the bytes in flight, and RSS back within 10 % of idle afterwards;
meanwhile an SMTP NOOP on its own connection answers within 100 ms (p99).

One run:
  1. a temporary folder with org.yaml (a sender unit `office` whose clerk sends, without approvers,
     and its sub-unit `staff` with --members members) and config.yaml; the relay is Postfix
     `smtp-sink -c` on a free port (it accepts everything; a thread reads its running `mesg=`
     counter); the database is SQLite, or with --postgres URL a scratch database
     `inkless_bench_<random>` on that server, dropped at the end;
  2. starts `inkless serve` and, once it answers 220, a thread that reads its VmRSS from
     /proc/PID/status every 20 ms, and the NOOP probe: this same script as
     `--noop-probe PORT` in a subprocess (so the bench's own work on 25 MB messages cannot delay
     it), one SMTP connection sending NOOP every 50 ms and timing each answer;
  3. warm-up: one small document (a 20 KB attachment) to staff@, delivered completely; its
     copies give the number of relay messages per document (the members' copies and the sender's
     "issued" notice). Then --idle seconds without work: idle RSS = the median VmRSS of the last
     second;
  4. two measured phases: ONE message of --size bytes (default 25,000,000, just under
     smtp.max_message_size of 25 MiB: a text part and one PDF attachment of random bytes, base64)
     from the clerk to staff@, then FOUR such messages (different attachments) at once, in four
     SMTP sessions. Each phase resets the kernel's peak RSS of the process (`5` into
     /proc/PID/clear_refs), sends, and polls until every message is issued as a document, the sink
     has accepted all its copies and the outbox has no queued or sending row. "After" is VmRSS
     once it has stayed within 1 MiB for 2 s (at most --settle seconds), read without sending
     anything to the service; the peak is VmHWM read then (it covers the whole phase).
Bytes in flight = the size of the messages of the phase on the wire (1 × and 4 × --size). The
report gives the peak above idle as a multiple of them, the after-RSS against idle in %, the
highest sampled VmRSS per stage (until the last 250, until issued, until delivered) and the NOOP
latencies (p50/p99/max) per phase. Results go to bench/results/bigmessage.md (bigmessage-pg.md
with --postgres) and, as rows for bench/summary.py, the .json next to it. Memory figures are MiB.

usage: .venv/bin/python bench/bigmessage.py [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/x]
Needs: the repo's venv; Postfix's smtp-sink on PATH; Linux /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import aiosmtplib
import yaml
from common import (
    Probe,
    Processes,
    Sink,
    free_port,
    loadavg,
    percentile,
    person_name,
    pg_admin,
    pg_urls,
    run_and_report,
    source_state,
    wait_smtp,
)
from rows import ResultRow, row

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOMAIN = "oa.bench.gov"
CLERK = "clerk@bench.gov"
UNIT = "staff"
MIB = 1024 * 1024
PEAK_FACTOR = 3.0  # peak ≤ idle + 3 × bytes in flight
AFTER_TOLERANCE = 0.10  # after within 10 % of idle
NOOP_TARGET_MS = 100.0  # p99
BODY = (
    "各科室、各直属单位：\n\n"
    "现将《2027年度部门预算草案》印发给你们，请认真组织学习，结合本单位实际提出修改意见，"
    "于本月二十日前书面反馈县政府办公室。预算草案及编制说明见附件，附件较大，请在电脑上打开。\n\n"
    "联系人：王文书，联系电话：0911-1234567。\n\n"
    "县政府办公室\n2026年12月2日\n"
)


def mib(kib: float) -> float:
    return kib / 1024


class RssMonitor:
    """VmRSS of one process every `every` seconds in a thread; the kernel's peak (VmHWM) is reset
    per phase by writing 5 to /proc/PID/clear_refs (Linux ≥ 4.0), so no short peak between two
    samples is missed."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []  # (time.monotonic, VmRSS KiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.samples.append((time.monotonic(), self.status()[0]))
            self._stop.wait(self.every)

    def parts(self) -> dict[str, int]:
        """RssAnon, RssFile and RssShmem now, in KiB, and the number of threads: what the RSS is made of."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem", "Threads"):
                values[key] = int(value.split()[0])
        return values

    def status(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) now, in KiB."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS; False when the kernel does not allow it."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def between(self, began: float, ended: float) -> list[int]:
        return [rss for at, rss in list(self.samples) if began <= at <= ended]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- the NOOP probe (a subprocess)
def noop_probe(port: int, every: float) -> int:
    """`--noop-probe PORT`: one SMTP connection, NOOP every `every` s; prints one line per NOOP,
    `<time.monotonic at send> <seconds to the answer> <code>`, until killed. A dropped connection is
    printed as code `error` and reconnected."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out = sys.stdout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                replies = sock.makefile("rb")
                if not replies.readline().startswith(b"220"):
                    raise OSError("no 220 greeting")
                sock.sendall(b"HELO probe.bench.gov\r\n")
                replies.readline()
                while True:
                    started = time.monotonic()
                    sock.sendall(b"NOOP\r\n")
                    answer = replies.readline()
                    seconds = time.monotonic() - started
                    if not answer:
                        raise OSError("connection closed")
                    out.write(f"{started:.6f} {seconds:.6f} {answer[:3].decode(errors='replace')}\n")
                    out.flush()
                    # The next NOOP `every` after this one was sent: a slow answer is not followed by a burst.
                    time.sleep(max(0.0, started + every - time.monotonic()))
        except OSError:
            out.write(f"{time.monotonic():.6f} nan error\n")
            out.flush()
            time.sleep(every)


class NoopProbe:
    """Runs `noop_probe` in a subprocess and collects its lines in a thread."""

    def __init__(self, procs: Processes, port: int, every: float) -> None:
        self.samples: list[tuple[float, float, str]] = []  # (sent at, seconds, code)
        self.proc = procs.start("NOOP probe", [sys.executable, str(Path(__file__).resolve()), "--noop-probe",
                                               str(port), "--noop-every", str(every)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._read, name="NOOP probe", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            at, seconds, code = line.decode().split()
            self.samples.append((float(at), float(seconds), code))

    def between(self, began: float, ended: float) -> list[tuple[float, float, str]]:
        return [s for s in list(self.samples) if began <= s[0] <= ended]


def write_config(folder: Path, database: str, relay_port: int, members: int) -> tuple[Path, int]:
    org = {"units": [
        {"id": "office", "name": "县政府办公室", "doc_prefix": "基准办发", "members": [
            {"email": CLERK, "name": "王文书", "roles": ["clerk"]}]},
        {"id": UNIT, "name": "县财政局", "parent": "office", "members": [
            {"email": f"staff{i:03d}@bench.gov", "name": person_name(i)} for i in range(members)]},
    ]}
    (folder / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    smtp_port, web_port = free_port(), free_port()
    config = {
        "domain": DOMAIN, "database": database, "secret_key": "bench-" + secrets.token_hex(16),
        "language": "zh", "org": "org.yaml",
        "smtp": {"listen": f"127.0.0.1:{smtp_port}"},
        "web": {"listen": f"127.0.0.1:{web_port}", "base_url": f"http://127.0.0.1:{web_port}"},
        "relay": {"url": f"smtp://127.0.0.1:{relay_port}?starttls=off"},
        "worker": {"scheduler_interval": 3600},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path, smtp_port


def message(title: str, attachment: bytes, filename: str) -> bytes:
    """A document from the clerk to staff@: a Chinese text part and one PDF attachment (base64)."""
    mail = EmailMessage()
    mail["From"] = f"王文书 <{CLERK}>"
    mail["To"] = f"{UNIT}@{DOMAIN}"
    mail["Subject"] = f"[通知] {title}"
    mail["Message-ID"] = f"<bench.big.{secrets.token_hex(8)}@bench.gov>"
    mail.set_content(BODY)
    mail.add_attachment(attachment, maintype="application", subtype="pdf", filename=filename)
    return mail.as_bytes(policy=SMTP_POLICY)


def encoded_size(raw: int) -> int:
    """Bytes of `raw` bytes in base64 with 76-character lines and CRLF (as the email package writes it)."""
    chars = 4 * math.ceil(raw / 3)
    return chars + 2 * math.ceil(chars / 76)


def big_message(index: int, size: int, rng: random.Random) -> tuple[bytes, int]:
    """(the message, its attachment's size): the attachment is as large as fits in `size` bytes."""
    title = f"关于印发2027年度部门预算草案的通知（第{index}号）"
    filename = f"2027年度部门预算草案（第{index}册）.pdf"
    overhead = len(message(title, b"", filename)) - encoded_size(0)
    raw = int((size - overhead) * 0.75 * 76 / 78)
    while overhead + encoded_size(raw + 1) <= size:
        raw += 1
    while overhead + encoded_size(raw) > size:
        raw -= 1
    data = message(title, rng.randbytes(raw), filename)
    if len(data) > size:
        raise RuntimeError(f"built a message of {len(data):,} bytes, wanted at most {size:,}")
    return data, raw


async def send(port: int, data: bytes) -> float:
    """Send one message from the clerk to staff@; when (time.monotonic) the 250 came."""
    await aiosmtplib.send(data, sender=CLERK, recipients=[f"{UNIT}@{DOMAIN}"], hostname="127.0.0.1", port=port,
                          start_tls=False, timeout=600)
    return time.monotonic()


# --------------------------------------------------------------------------- one phase
@dataclass
class Stage:
    """A part of a phase: when it ended, the highest VmRSS sampled and the NOOP answers in it."""

    name: str
    ends_at: float  # seconds from the start of the phase
    max_kib: int | None  # None: no sample inside (the stage was empty)
    noop_ms: list[float]


@dataclass
class Phase:
    name: str
    messages: int
    bytes_in_flight: int
    before_kib: int = 0
    peak_kib: int = 0
    peak_source: str = "VmHWM"
    sampled_max_kib: int = 0
    after_kib: int = 0
    settle_seconds: float = 0.0
    settled: bool = True
    accepted: float = math.nan  # seconds from the start of the phase
    issued: float = math.nan
    delivered: float = math.nan
    recorded: float = math.nan
    stages: list[Stage] = field(default_factory=list)
    noop: list[tuple[float, float, str]] = field(default_factory=list)
    copies: int = 0
    after_parts: dict[str, int] = field(default_factory=dict)  # RssAnon/RssFile/RssShmem, KiB


@dataclass
class Context:
    args: argparse.Namespace
    serve: subprocess.Popen[bytes]
    smtp_port: int
    sink: Sink
    probe: Probe
    monitor: RssMonitor
    noop: NoopProbe
    per_document: int = 0  # relay messages per document


async def pending(ctx: Context) -> tuple[int, int]:
    """(inbound rows new or processing, outbox rows queued or sending)."""
    inbound = int(await ctx.probe.scalar("SELECT count(*) FROM inbound WHERE status IN ('new', 'processing')"))
    outbox = int(await ctx.probe.scalar("SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')"))
    return inbound, outbox


async def run_phase(ctx: Context, phase: Phase, messages: list[bytes]) -> None:
    """Send `messages` at once, each in its own session; wait until all are issued, delivered
    and recorded; then until RSS settles."""
    probe, sink, monitor = ctx.probe, ctx.sink, ctx.monitor
    issued_before = int(await probe.scalar("SELECT count(*) FROM documents WHERE status = 'issued'"))
    quarantined_before = int(await probe.scalar("SELECT count(*) FROM inbound WHERE status <> 'done'"
                                                " AND status NOT IN ('new', 'processing')"))
    sink_before = sink.count
    wanted = sink_before + ctx.per_document * len(messages)
    phase.before_kib = monitor.status()[0]
    if not monitor.reset_peak():
        phase.peak_source = "sampled VmRSS (clear_refs not permitted)"
    began = time.monotonic()
    senders = [asyncio.create_task(send(ctx.smtp_port, data)) for data in messages]
    accepted = issued = delivered = recorded = None
    deadline = began + ctx.args.timeout
    try:
        while recorded is None:
            if ctx.serve.poll() is not None:
                raise RuntimeError(f"inkless serve exited with {ctx.serve.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{phase.name}: not done after {ctx.args.timeout:.0f}s (accepted {accepted},"
                                   f" issued {issued}, sink {sink.count - sink_before}/{wanted - sink_before})")
            if accepted is None and all(task.done() for task in senders):
                accepted = max(task.result() for task in senders)  # raises the SMTP error, if any
            if accepted is not None and issued is None:
                count = int(await probe.scalar("SELECT count(*) FROM documents WHERE status = 'issued'"))
                if count >= issued_before + len(messages):
                    issued = time.monotonic()
                else:
                    lost = int(await probe.scalar("SELECT count(*) FROM inbound WHERE status <> 'done'"
                                                  " AND status NOT IN ('new', 'processing')"))
                    if lost > quarantined_before:
                        reasons = await probe.query("SELECT status, reason FROM inbound ORDER BY id DESC LIMIT 4")
                        raise RuntimeError(f"{phase.name}: a message was not issued: {reasons}")
            if issued is not None and delivered is None:
                delivered = sink.reached(wanted)
            if delivered is not None and await pending(ctx) == (0, 0):
                recorded = time.monotonic()
            await asyncio.sleep(0.1)
    finally:
        for task in senders:
            task.cancel()
    assert accepted is not None and issued is not None and delivered is not None
    phase.accepted, phase.issued = accepted - began, issued - began
    phase.delivered, phase.recorded = delivered - began, recorded - began
    # The poll sees "issued" up to 0.1 s late; a copy at the sink is proof of it.
    first = sink.reached(sink_before + 1)
    if first is not None and first < issued:
        phase.issued = max(phase.accepted, first - began)
    marks = [("SMTP, until the last 250", began, accepted), ("processing, until issued", accepted, began
             + phase.issued), ("delivery, until the sink has every copy", began + phase.issued, delivered),
             ("recording, until the outbox is idle", delivered, recorded)]
    for label, start, end in marks:
        samples = monitor.between(start, end)
        noop = [seconds * 1000 for _, seconds, code in ctx.noop.between(start, end) if code == "250"]
        phase.stages.append(Stage(label, end - began, max(samples) if samples else None, noop))
    phase.copies = sink.count - sink_before

    # Settle: VmRSS within 1 MiB for 2 s, or --settle seconds. Nothing is sent to the service.
    settle_began = time.monotonic()
    while True:
        await asyncio.sleep(0.2)
        now = time.monotonic()
        window = monitor.between(now - 2.0, now)
        if now - settle_began >= 2.0 and window and max(window) - min(window) <= 1024:
            break
        if now - settle_began >= ctx.args.settle:
            phase.settled = False
            break
    phase.settle_seconds = time.monotonic() - settle_began
    phase.after_kib, hwm = monitor.status()
    phase.after_parts = monitor.parts()
    samples = monitor.between(began, time.monotonic())
    phase.sampled_max_kib = max(samples) if samples else 0
    phase.peak_kib = hwm if phase.peak_source == "VmHWM" else phase.sampled_max_kib
    phase.noop = ctx.noop.between(began, time.monotonic())


# --------------------------------------------------------------------------- the run
@dataclass
class Outcome:
    backend: str
    message_bytes: int = 0
    attachment_bytes: int = 0
    idle_kib: int = 0
    idle_parts: dict[str, int] = field(default_factory=dict)
    start_kib: int = 0
    warm_kib: int = 0
    phases: list[Phase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def run(args: argparse.Namespace) -> tuple[str, list[ResultRow]]:
    backend = "PostgreSQL" if args.postgres else "SQLite"
    outcome = Outcome(backend)
    load_start, source = loadavg(), source_state()
    folder = Path(tempfile.mkdtemp(prefix="inkless-bench-bigmessage-"))
    procs = Processes()
    pg_name: str | None = None
    probe: Probe | None = None
    monitor: RssMonitor | None = None
    try:
        # The messages first: building them costs the bench seconds and memory, never during a phase.
        rng = random.Random(20261202)
        built = [big_message(index + 1, args.size, rng) for index in range(1 + args.concurrent)]
        outcome.message_bytes = max(len(data) for data, _ in built)
        outcome.attachment_bytes = built[0][1]
        print(f"built {len(built)} messages of {outcome.message_bytes:,} bytes"
              f" (attachment {outcome.attachment_bytes:,} bytes, base64)", flush=True)

        if args.postgres:
            pg_name = f"inkless_bench_{secrets.token_hex(4)}"
            await pg_admin(args.postgres, f'CREATE DATABASE "{pg_name}"')
            dsn, database = pg_urls(args.postgres, pg_name)
            probe = Probe(dsn=dsn)
        else:
            database = f"sqlite+aiosqlite:///{folder}/inkless.db"
            probe = Probe(sqlite_path=folder / "inkless.db")
        sink = Sink(procs)
        config, smtp_port = write_config(folder, database, sink.port, args.members)
        log = folder / "serve.log"
        with log.open("wb") as out:
            serve = procs.start("inkless serve", [str(REPO / ".venv" / "bin" / "inkless"), "serve", "-c", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=str(folder))
        wait_smtp(smtp_port, serve, timeout=300, log=log)
        monitor = RssMonitor(serve.pid, every=args.sample_every)
        outcome.start_kib = monitor.status()[0]
        noop = NoopProbe(procs, smtp_port, args.noop_every)
        ctx = Context(args, serve, smtp_port, sink, probe, monitor, noop)
        print(f"inkless serve: pid {serve.pid}, smtp {smtp_port}, VmRSS after start {mib(outcome.start_kib):.1f} MiB",
              flush=True)

        # Warm-up: a small document, delivered completely; it gives the relay messages per document.
        warm = message("关于预热的通知", rng.randbytes(20_000), "预热.pdf")
        await send(smtp_port, warm)
        deadline = time.monotonic() + 120
        while True:
            await asyncio.sleep(0.2)
            issued = int(await probe.scalar("SELECT count(*) FROM documents WHERE status = 'issued'"))
            if issued == 1 and await pending(ctx) == (0, 0):
                ctx.per_document = int(await probe.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'"))
                if sink.count >= ctx.per_document:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"warm-up not done: {issued} documents issued, sink {sink.count}")
        outcome.warm_kib = monitor.status()[0]
        await asyncio.sleep(args.idle)
        now = time.monotonic()
        outcome.idle_kib = int(statistics.median(monitor.between(now - 1.0, now)))
        outcome.idle_parts = monitor.parts()
        print(f"warm-up done ({ctx.per_document} relay messages per document); idle VmRSS"
              f" {mib(outcome.idle_kib):.1f} MiB", flush=True)

        for name, messages in ((f"1 × {args.size / 1e6:g} MB", [built[0][0]]),
                               (f"{args.concurrent} × {args.size / 1e6:g} MB at once", [d for d, _ in built[1:]])):
            phase = Phase(name, len(messages), sum(len(data) for data in messages))
            await run_phase(ctx, phase, messages)
            outcome.phases.append(phase)
            print(f"{name}: peak {mib(phase.peak_kib):.1f} MiB (idle {mib(outcome.idle_kib):.1f}), after"
                  f" {mib(phase.after_kib):.1f} MiB; last 250 {phase.accepted:.1f}s, issued {phase.issued:.1f}s,"
                  f" delivered {phase.delivered:.1f}s", flush=True)

        # Checks: every attachment stored whole, every copy sent.
        sizes = [int(size) for (size,) in await probe.query("SELECT size FROM attachments ORDER BY id")]
        states = dict(await probe.query("SELECT status, count(*) FROM outbox GROUP BY status"))
        expected_sent = ctx.per_document * (1 + 1 + args.concurrent)
        if sizes[1:] != [raw for _, raw in built]:
            raise RuntimeError(f"attachments stored of {sizes} bytes, sent {[raw for _, raw in built]}")
        if states.get("sent") != expected_sent or set(states) != {"sent"}:
            raise RuntimeError(f"outbox {states}, expected {expected_sent} sent")
        outcome.notes.append(f"checks passed: the {len(built)} big attachments stored with the sizes sent,"
                             f" {expected_sent} outbox rows `sent` ({args.members} copies + the sender's notice"
                             " per document)")
        if not args.postgres:
            on_disk = sum(path.stat().st_size for path in folder.glob("inkless.db*"))
            outcome.notes.append(f"SQLite database on disk at the end: {on_disk / 1e6:,.0f} MB")
        monitor.stop()
        procs.stop(noop.proc)
        outcome.notes.append(f"`inkless serve` exit code after SIGTERM: {procs.stop(serve)}")
        errors = [line for line in log.read_text(errors="replace").splitlines()
                  if "Traceback" in line or " ERROR " in line]
        if errors:
            outcome.notes.append(f"serve.log has {len(errors)} error lines, e.g. {errors[0][:200]}")
    finally:
        if monitor is not None:
            monitor.stop()
        procs.stop_all()
        if probe is not None:
            with contextlib.suppress(Exception):
                await probe.close()
        if pg_name is not None:
            try:
                await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            except Exception as exc:
                print(f"warning: could not drop database {pg_name}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return report(args, outcome, load_start, source), result_rows(args, outcome, source)


# --------------------------------------------------------------------------- report
def noop_stats(samples: list[tuple[float, float, str]]) -> tuple[int, float, float, float, int]:
    """(NOOPs answered 250, p50 ms, p99 ms, max ms, failures)."""
    answered = [seconds * 1000 for _, seconds, code in samples if code == "250"]
    failures = len(samples) - len(answered)
    return (len(answered), percentile(answered, 0.50), percentile(answered, 0.99),
            max(answered) if answered else math.nan, failures)


def peak_over(phase: Phase, idle_kib: int) -> float:
    """(peak − idle) ÷ bytes in flight."""
    return (phase.peak_kib - idle_kib) * 1024 / phase.bytes_in_flight


def after_over(phase: Phase, idle_kib: int) -> float:
    """after ÷ idle − 1."""
    return phase.after_kib / idle_kib - 1


def report(args: argparse.Namespace, outcome: Outcome, load_start: str, source: str) -> str:
    idle = outcome.idle_kib
    lines = [
        f"# Big message ({outcome.backend}, {args.members} members)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} · {platform.node()} · {os.cpu_count()} CPUs · Python"
        f" {platform.python_version()} · load average at start {load_start}, at end {loadavg()}",
        f"Measured code: {source}",
        "",
        f"Each message: {outcome.message_bytes:,} bytes on the wire (a text part and one PDF attachment of"
        f" {outcome.attachment_bytes:,} random bytes in base64), from the clerk to `{UNIT}@` ({args.members}"
        " members, no approvers), relay Postfix `smtp-sink`. Memory in MiB (VmRSS/VmHWM of `inkless serve`"
        " from /proc). Idle: the median VmRSS of the last second of"
        f" {args.idle:g} s without work, after start ({mib(outcome.start_kib):.1f} MiB) and a warm-up document"
        f" ({mib(outcome.warm_kib):.1f} MiB when it was delivered): **{mib(idle):.1f} MiB**.",
        "",
        f"| phase | bytes in flight | VmRSS before | peak | peak − idle | ÷ bytes in flight | ≤ {PEAK_FACTOR:g}× |"
        " after | after vs idle | within 10 % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for phase in outcome.phases:
        over, after = peak_over(phase, idle), after_over(phase, idle)
        lines.append(
            f"| {phase.name} | {phase.bytes_in_flight / MIB:,.1f} | {mib(phase.before_kib):,.1f} |"
            f" **{mib(phase.peak_kib):,.1f}** | {mib(phase.peak_kib - idle):+,.1f} | **{over:.2f}×** |"
            f" {'met' if over <= PEAK_FACTOR else 'NOT met'} | **{mib(phase.after_kib):,.1f}** |"
            f" {after * 100:+.1f} % | {'met' if abs(after) <= AFTER_TOLERANCE else 'NOT met'} |")
    lines += [
        "",
        "Where the memory and the stalls went: per stage, when it ended (seconds from the start of the"
        f" phase), the highest VmRSS sampled (every {args.sample_every * 1000:g} ms) and the NOOP answers sent"
        " in it (stages overlap when several messages are in flight: the next message may be processed"
        " before the last 250):",
        "",
        "| phase | stage | ends at s | max VmRSS | above idle | NOOPs | NOOP max ms | NOOPs > 100 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for phase in outcome.phases:
        for stage in phase.stages:
            worst = f"{max(stage.noop_ms):.0f}" if stage.noop_ms else ""
            peak = "| | |" if stage.max_kib is None else \
                f"| {mib(stage.max_kib):,.1f} | {mib(stage.max_kib - idle):+,.1f} |"
            lines.append(f"| {phase.name} | {stage.name} | {stage.ends_at:.1f} {peak} {len(stage.noop_ms)} |"
                         f" {worst} | {sum(ms > NOOP_TARGET_MS for ms in stage.noop_ms)} |")
        lines.append(f"| {phase.name} | settled (after-RSS) | +{phase.settle_seconds:.1f} |"
                     f" {mib(phase.after_kib):,.1f} | {mib(phase.after_kib - idle):+,.1f} | | | |")
    lines += [
        "",
        f"SMTP NOOP probe: its own connection, a NOOP every {args.noop_every * 1000:g} ms, from a separate"
        " process; latency from sending NOOP to the 250.",
        "",
        "| while | NOOPs | p50 ms | p99 ms | max ms | failed | p99 ≤ 100 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, samples in [(phase.name, phase.noop) for phase in outcome.phases] \
            + [("both phases", [s for phase in outcome.phases for s in phase.noop])]:
        count, p50, p99, slowest, failed = noop_stats(samples)
        lines.append(f"| {name} | {count:,} | {p50:.1f} | {p99:.1f} | {slowest:.1f} | {failed} |"
                     f" {'met' if p99 <= NOOP_TARGET_MS and not failed else 'NOT met'} |")
    lines += ["", *[f"- {note}" for note in outcome.notes]]
    for phase in outcome.phases:
        if phase.peak_source != "VmHWM":
            lines.append(f"- {phase.name}: peak from {phase.peak_source}; may miss a peak between samples")
        elif phase.sampled_max_kib < phase.peak_kib - 1024:
            lines.append(f"- {phase.name}: the highest sampled VmRSS was {mib(phase.sampled_max_kib):.1f} MiB,"
                         f" the kernel's VmHWM {mib(phase.peak_kib):.1f} MiB (a peak between two samples)")
        if phase.after_parts:
            lines.append(f"- {phase.name}: what the after-RSS is made of (idle in brackets): " + ", ".join(
                f"{key} {value} ({outcome.idle_parts.get(key, 0)})" if key == "Threads" else
                f"{key} {mib(value):.1f} ({mib(outcome.idle_parts.get(key, 0)):.1f}) MiB"
                for key, value in phase.after_parts.items()))
        if not phase.settled:
            lines.append(f"- {phase.name}: VmRSS had not settled (within 1 MiB for 2 s) after {args.settle:g} s;"
                         " after-RSS is the value then")
    lines.append("")
    return "\n".join(lines)


def result_rows(args: argparse.Namespace, outcome: Outcome, source: str) -> list[ResultRow]:
    """Per phase the peak above idle against the bytes in flight and the after-RSS against idle;
    the NOOP p99 over both phases."""
    idle, rows = outcome.idle_kib, []
    for phase in outcome.phases:
        scenario = f"{outcome.backend}, {phase.name} to {args.members} members"
        over, after = peak_over(phase, idle), after_over(phase, idle)
        rows.append(row("bigmessage", scenario, "peak RSS (VmHWM) above idle", mib(phase.peak_kib - idle), "MiB",
                        "bytes in flight", phase.bytes_in_flight / MIB, over, f"≤ {PEAK_FACTOR:g}×",
                        over <= PEAK_FACTOR, source))
        rows.append(row("bigmessage", scenario, "RSS after, settled", mib(phase.after_kib), "MiB",
                        "idle RSS after start and a warm-up document", mib(idle), phase.after_kib / idle,
                        "within 10 % of idle", abs(after) <= AFTER_TOLERANCE, source))
    count, _, p99, _, failed = noop_stats([s for phase in outcome.phases for s in phase.noop])
    rows.append(row("bigmessage", f"{outcome.backend}, both phases", f"SMTP NOOP p99 ms, of {count:,}", p99, "ms",
                    target=f"p99 ≤ {NOOP_TARGET_MS:g} ms", met=p99 <= NOOP_TARGET_MS and not failed, source=source))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=25_000_000,
                        help="bytes of each big message on the wire (default 25000000; the limit is 26214400)")
    parser.add_argument("--members", type=int, default=100, help="members of the addressed unit (default 100)")
    parser.add_argument("--concurrent", type=int, default=4, help="big messages at once in phase 2 (default 4)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds without work before idle RSS (default 3)")
    parser.add_argument("--settle", type=float, default=20.0, help="max seconds for RSS to settle (default 20)")
    parser.add_argument("--timeout", type=float, default=600, help="max seconds per phase (default 600)")
    parser.add_argument("--sample-every", type=float, default=0.02, help="VmRSS sampling (default 0.02 s)")
    parser.add_argument("--noop-every", type=float, default=0.05, help="NOOP probe interval (default 0.05 s)")
    parser.add_argument("--noop-probe", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", metavar="URL", help="postgresql+asyncpg://user@host:port/anydb"
                        " (a scratch database is made and dropped)")
    parser.add_argument("--results", help="markdown results file (default bench/results/bigmessage.md,"
                        " bigmessage-pg.md)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (serve.log, SQLite)")
    args = parser.parse_args()
    if args.noop_probe is not None:
        return noop_probe(args.noop_probe, args.noop_every)
    if shutil.which("smtp-sink") is None:
        raise SystemExit("smtp-sink not found: install Postfix (apt-get install postfix, 'No configuration')")

    default = "bigmessage-pg.md" if args.postgres else "bigmessage.md"
    return run_and_report(run(args), Path(args.results) if args.results else HERE / "results" / default)


if __name__ == "__main__":
    sys.exit(main())
