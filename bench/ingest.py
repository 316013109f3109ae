#!/usr/bin/env python3
"""Ingest benchmark (SPEC §8): Postfix smtp-source → smtp-sink / bare aiosmtpd sink / Inkless.

One run measures, with the same `smtp-source -s 10 -m 5000 -l 5000 -f SENDER -t RCPT`
command (new TCP connection + EHLO per message, 10 parallel sessions):

  1. Postfix `smtp-sink` (C, the physical reference),
  2. a bare aiosmtpd sink (handle_DATA returns "250 OK") on the default asyncio loop,
  3. the real `inkless serve` (SQLite; uvloop when installed), every message durably stored,
  4. optionally `inkless serve` on PostgreSQL (--postgres URL).

Rounds alternate the servers (sink, aiosmtpd, Inkless, [Inkless-pg]) --runs times; the
median msgs/s of each is reported, with the ratios Inkless/aiosmtpd-sink (target >= 1.0)
and Inkless/smtp-sink. After each Inkless round the inbound table must hold exactly
--messages more rows, and the bench waits until Inkless has processed its backlog (so the
next server is not measured against Inkless's background work).

usage: .venv/bin/python bench/ingest.py [--runs 3] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/x]
Needs: Postfix tools (smtp-source, smtp-sink) on PATH; the repo's venv (aiosmtpd, inkless).
Results: printed, and written to bench/results/ingest.md (and ingest.json for bench/summary.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import secrets
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common import Processes, free_port, loadavg, wait_smtp
from rows import ResultRow, row, write_rows

HERE = Path(__file__).resolve().parent
SENDER = "sender@bench.gov"
DOMAIN = "oa.bench.gov"
RCPT = f"bench@{DOMAIN}"


# --------------------------------------------------------------------------- sink mode
def run_aiosmtpd_sink(host: str, port: int) -> None:
    """The baseline: aiosmtpd with a handler that only answers 250, default asyncio loop."""
    from aiosmtpd.smtp import SMTP

    class Sink:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.count += 1
            return "250 OK"

    async def main() -> None:
        handler = Sink()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.bench.test", auth_require_tls=False), host, port)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"aiosmtpd sink on {host}:{port} loop={type(loop).__module__}.{type(loop).__name__}", flush=True)
        await stop.wait()
        server.close()
        await server.wait_closed()
        print(f"messages={handler.count}", flush=True)

    asyncio.run(main())  # the default event loop: no uvloop here, on purpose


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_rate(value: float) -> str:
    return "n/a" if value != value else f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}×"


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


# --------------------------------------------------------------------------- databases
class SqliteProbe:
    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(str(self.path), timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()


class PostgresProbe:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def query(self, sql: str) -> list[tuple[object, ...]]:
        import asyncpg  # type: ignore[import-untyped]

        async def go() -> list[tuple[object, ...]]:
            conn = await asyncpg.connect(self.dsn)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(go())


def pg_dsn(sqlalchemy_url: str, database: str) -> tuple[str, str]:
    """(asyncpg DSN, SQLAlchemy URL) for `database` on the server of `sqlalchemy_url`."""
    parts = urlsplit(sqlalchemy_url)
    if not parts.scheme.startswith("postgresql"):
        raise SystemExit(f"--postgres: expected postgresql+asyncpg://..., got {parts.scheme}://")
    sa = urlunsplit(("postgresql+asyncpg", parts.netloc, "/" + database, parts.query, ""))
    dsn = urlunsplit(("postgresql", parts.netloc, "/" + database, parts.query, ""))
    return dsn, sa


def pg_admin(sqlalchemy_url: str, statement: str) -> None:
    import asyncpg

    dsn, _ = pg_dsn(sqlalchemy_url, "postgres")

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


# --------------------------------------------------------------------------- servers
@dataclass
class Server:
    key: str
    label: str
    port: int
    proc: subprocess.Popen[bytes]
    probe: SqliteProbe | PostgresProbe | None = None
    log: Path | None = None
    rates: list[float] = field(default_factory=list)
    stored: list[tuple[int, int]] = field(default_factory=list)   # (rows before, rows after)
    drain: list[tuple[int, float]] = field(default_factory=list)  # (unprocessed at the last 250, seconds to clear)
    notes: list[str] = field(default_factory=list)

    def count(self, table: str = "inbound", where: str = "") -> int:
        assert self.probe is not None
        value = self.probe.query(f"SELECT count(*) FROM {table} {where}")[0][0]
        assert isinstance(value, int)
        return value


def write_inkless_config(folder: Path, database: str, smtp_port: int, web_port: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "org.yaml").write_text(
        "units:\n"
        "  - id: bench\n"
        "    name: Benchmark Office\n"
        "    doc_prefix: BENCH\n"
        "    members:\n"
        f"      - {{email: {SENDER}, name: Bench Sender, roles: [clerk]}}\n"
        "      - {email: reader@bench.gov, name: Bench Reader}\n",
        encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text(
        f"domain: {DOMAIN}\n"
        f"database: {database}\n"
        f"secret_key: {secrets.token_urlsafe(24)}\n"
        "timezone: Asia/Shanghai\n"
        "language: en\n"
        "org: org.yaml\n"
        f'smtp: {{listen: "127.0.0.1:{smtp_port}"}}\n'
        f'web: {{listen: "127.0.0.1:{web_port}", base_url: "http://127.0.0.1:{web_port}"}}\n'
        f"relay: {{url: \"maildir://{folder / 'outbox'}\"}}\n",
        encoding="utf-8")
    return config


def start_inkless(procs: Processes, folder: Path, database: str, inkless_cmd: list[str],
                  label: str, key: str, probe: SqliteProbe | PostgresProbe) -> Server:
    smtp_port, web_port = free_port(), free_port()
    config = write_inkless_config(folder, database, smtp_port, web_port)
    log = folder / "serve.log"
    with log.open("wb") as out:
        proc = procs.start(key, [*inkless_cmd, "serve", "-c", str(config)],
                           stdout=out, stderr=subprocess.STDOUT, cwd=str(folder))
    wait_smtp(smtp_port, proc, timeout=120, log=log)
    return Server(key, label, smtp_port, proc, probe=probe, log=log)


def wait_drained(server: Server, timeout: float) -> float | None:
    """Seconds until Inkless has no inbound or outbound work left (None on timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.label} (pid {server.proc.pid}) exited with {server.proc.returncode}")
        pending = server.count("inbound", "WHERE status IN ('new', 'processing')")
        if pending == 0:
            pending += server.count("outbox", "WHERE status IN ('queued', 'sending')")
        if pending == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


# --------------------------------------------------------------------------- the bench
def smtp_source(args: argparse.Namespace, port: int, messages: int) -> list[str]:
    return ["smtp-source", "-s", str(args.sessions), "-m", str(messages), "-l", str(args.size),
            "-f", SENDER, "-t", RCPT, f"127.0.0.1:{port}"]


def drive(args: argparse.Namespace, port: int, messages: int) -> float:
    """Run smtp-source against the port; return msgs/s (wall time of the whole command)."""
    cmd = smtp_source(args, port, messages)
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    elapsed = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {result.returncode}): {result.stderr.strip()[-2000:]}")
    return messages / elapsed


def measure(args: argparse.Namespace, server: Server, run: int, pyspy: subprocess.Popen[bytes] | None) -> None:
    before = server.count() if server.probe else 0
    try:
        rate = drive(args, server.port, args.messages)
    finally:
        if pyspy is not None:  # py-spy writes its output on SIGINT
            with contextlib.suppress(ProcessLookupError):
                os.kill(pyspy.pid, signal.SIGINT)
            pyspy.wait(timeout=120)
    server.rates.append(rate)
    line = f"  run {run}: {server.label:<40} {rate:8,.0f} msgs/s"
    if server.probe is not None:
        after = server.count()
        server.stored.append((before, after))
        line += f"   inbound rows {before} -> {after} (+{after - before})"
        if after - before != args.messages:
            raise RuntimeError(f"{server.label}: expected +{args.messages} inbound rows, got +{after - before}")
        backlog = server.count("inbound", "WHERE status IN ('new', 'processing')")
        drained = wait_drained(server, args.drain_timeout)
        if drained is None:
            server.notes.append(f"run {run}: backlog not processed within {args.drain_timeout:.0f}s")
            line += f"   {backlog} unprocessed, NOT drained"
        else:
            server.drain.append((backlog, drained))
            line += f"   {backlog} unprocessed at the last 250, cleared in {drained:.1f}s"
    print(line, flush=True)


def report(args: argparse.Namespace, servers: list[Server], env: dict[str, str]) -> str:
    by_key = {s.key: s for s in servers}
    sink, aio = by_key.get("smtp-sink"), by_key.get("aiosmtpd")
    bases = [(base, target) for base, target in ((aio, "≥ 1.0× (SPEC §8)"), (sink, "report only"))
             if base is not None]
    lines = [
        "# Ingest benchmark",
        "",
        f"{env['date']} · {env['host']} · {env['cpus']} CPUs · Python {env['python']} · aiosmtpd {env['aiosmtpd']}"
        f" · {env['postfix']} · Inkless loop: {env['uvloop']}",
        f"Load average (1/5/15 min) at start {env['load_start']}, at end {env.get('load_end', '?')}"
        " — other work on the machine makes the absolute numbers noisy; compare ratios from one run.",
        "",
        f"Command (per server, per run): `{' '.join(smtp_source(args, 0, args.messages)).replace(':0', ':PORT')}`",
        f"— {args.sessions} sessions, new connection + EHLO per message, {args.size}-byte body;"
        f" {args.runs} runs alternating servers, median reported; warm-up {args.warmup} msgs per server.",
        "",
        "| server | msgs/s per run | median msgs/s |",
        "| --- | --- | ---: |",
    ]
    for s in servers:
        lines.append(f"| {s.label} | {', '.join(fmt_rate(r) for r in s.rates)} | **{fmt_rate(median(s.rates))}** |")
    lines += ["", "| ratio (medians) | value | per-run ratios | target |", "| --- | ---: | --- | --- |"]
    for s in servers:
        if not s.key.startswith("inkless"):
            continue
        for base, target in bases:
            value = median(s.rates) / median(base.rates)
            per_run = ", ".join(f"{a / b:.2f}" for a, b in zip(s.rates, base.rates))
            verdict = ""
            if base is aio:
                verdict = " — PASS" if value >= 1.0 else " — FAIL"
            lines.append(f"| {s.label} / {base.label} | **{fmt_ratio(value)}** | {per_run} | {target}{verdict} |")
    lines += ["", "Durability check (rows in `inbound` before → after each timed run, must be +"
              f"{args.messages}), and Inkless's background processing (documents issued, copies written to"
              " the Maildir relay) of what was still unprocessed when smtp-source finished:", ""]
    for s in servers:
        if s.probe is None:
            continue
        stored = ", ".join(f"{b}→{a} (+{a - b})" for b, a in s.stored)
        drains = ", ".join(f"{n} in {d:.1f}s" + (f" ({n / d:,.0f}/s)" if n and d else "") for n, d in s.drain)
        lines.append(f"- {s.label}: {stored}; still unprocessed at the last 250, then cleared: {drains or 'n/a'}")
        for note in s.notes:
            lines.append(f"  - note: {note}")
    if aio is not None and aio.notes:
        lines += ["", f"aiosmtpd sink: {aio.notes[-1]}"]
    lines.append("")
    return "\n".join(lines)


def result_rows(args: argparse.Namespace, servers: list[Server]) -> list[ResultRow]:
    """The ratios of the report, as rows for bench/summary.py: each Inkless against each reference server."""
    by_key = {s.key: s for s in servers}
    bases = [(base, target) for base, target in ((by_key.get("aiosmtpd"), "≥ 1.0×"), (by_key.get("smtp-sink"), ""))
             if base is not None]
    rows = []
    for s in servers:
        if not s.key.startswith("inkless"):
            continue
        scenario = s.label.removeprefix("Inkless (").removesuffix(")")
        figure = f"msgs/s, median of {args.runs} run{'s' if args.runs > 1 else ''}"
        for base, target in bases:
            ratio = median(s.rates) / median(base.rates)
            rows.append(row("ingest", scenario, figure, median(s.rates), "msgs/s", base.label, median(base.rates),
                            ratio, target, ratio >= 1.0 if base.key == "aiosmtpd" else None))
        if not bases:
            rows.append(row("ingest", scenario, figure, median(s.rates), "msgs/s"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds per server, alternating (default 3)")
    parser.add_argument("--messages", type=int, default=5000, help="messages per round (default 5000)")
    parser.add_argument("--size", type=int, default=5000, help="smtp-source -l body length (default 5000)")
    parser.add_argument("--sessions", type=int, default=10, help="smtp-source -s (default 10)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed messages per server first (default 100)")
    parser.add_argument("--postgres", metavar="URL",
                        help="also run Inkless on PostgreSQL (a temporary database on this server)")
    parser.add_argument("--only", choices=["all", "inkless"], default="all",
                        help="'inkless' skips the two reference servers (profiling)")
    parser.add_argument("--py-spy", metavar="FILE",
                        help="record Inkless (SQLite) with py-spy during its last timed run"
                             " (.svg flamegraph, .txt collapsed stacks, .json speedscope)")
    parser.add_argument("--py-spy-server", choices=["inkless", "inkless-pg"], default="inkless",
                        help="which Inkless --py-spy records: 'inkless-pg' is the PostgreSQL one (needs --postgres)")
    parser.add_argument("--timeout", type=float, default=900, help="smtp-source timeout, seconds")
    parser.add_argument("--drain-timeout", type=float, default=900,
                        help="max wait for Inkless to process its backlog after a run, seconds")
    parser.add_argument("--results", default=str(HERE / "results" / "ingest.md"), help="markdown results file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, databases)")
    parser.add_argument("--inkless-cmd", metavar="CMD",
                        help="command that runs the inkless CLI, for A/B tests of a patched tree, e.g."
                             " 'env PYTHONPATH=/tmp/patched/src .venv/bin/python -m inkless'"
                             " (default: the venv's inkless script)")
    parser.add_argument("--variant", nargs=2, action="append", default=[], metavar=("NAME", "CMD"),
                        help="also run another Inkless (SQLite) with this CLI command, in the same rounds"
                             " (A/B of a patched tree); repeatable")
    parser.add_argument("--sink-server", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.sink_server:
        run_aiosmtpd_sink(args.sink_server[0], int(args.sink_server[1]))
        return 0

    for tool in ("smtp-source", "smtp-sink"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: install Postfix (apt-get install postfix, 'No configuration')")
    venv_bin = Path(sys.executable).parent
    inkless_bin = venv_bin / "inkless"
    if not inkless_bin.exists():
        found = shutil.which("inkless")
        if found is None:
            raise SystemExit("inkless console script not found: run with the repo's .venv/bin/python")
        inkless_bin = Path(found)

    inkless_cmd = shlex.split(args.inkless_cmd) if args.inkless_cmd else [str(inkless_bin)]

    # SIGTERM/SIGHUP go through the finally blocks below like Ctrl-C does.
    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    import aiosmtpd
    env = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "host": platform.node(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "aiosmtpd": getattr(aiosmtpd, "__version__", "?"),
        "postfix": "Postfix " + tool_version(["postconf", "-d", "-h", "mail_version"]),
        "uvloop": "uvloop " + (__import__("importlib.metadata").metadata.version("uvloop")
                               if __import__("importlib.util").util.find_spec("uvloop") else "absent"),
        "load_start": loadavg(),
    }
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="inkless-bench-ingest-"))
    pg_database: str | None = None
    servers: list[Server] = []
    try:
        print(f"temporary folder {tmp}", flush=True)
        if args.only == "all":
            port = free_port()  # smtp-sink binds with SO_REUSEPORT: always a fresh port
            cmd = ["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"]
            if os.geteuid() != 0:
                cmd = ["smtp-sink", f"127.0.0.1:{port}", "1000"]
            proc = procs.start("smtp-sink", cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_smtp(port, proc, timeout=30)
            servers.append(Server("smtp-sink", "Postfix smtp-sink (C)", port, proc))

            port = free_port()
            sink_log = tmp / "aiosmtpd-sink.log"
            with sink_log.open("wb") as out:
                proc = procs.start("aiosmtpd", [sys.executable, str(Path(__file__).resolve()),
                                                "--sink-server", "127.0.0.1", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT)
            wait_smtp(port, proc, timeout=60, log=sink_log)
            servers.append(Server("aiosmtpd", "bare aiosmtpd sink (default loop)", port, proc, log=sink_log))

        db_path = tmp / "sqlite" / "inkless.db"
        servers.append(start_inkless(procs, tmp / "sqlite", f"sqlite+aiosqlite:///{db_path}", inkless_cmd,
                                     "Inkless (SQLite)", "inkless", SqliteProbe(db_path)))
        for name, cmd in args.variant:
            folder = tmp / f"variant-{len(servers)}"
            servers.append(start_inkless(procs, folder, f"sqlite+aiosqlite:///{folder / 'inkless.db'}",
                                         shlex.split(cmd), f"Inkless (SQLite, {name})", f"inkless-{name}",
                                         SqliteProbe(folder / "inkless.db")))
        if args.postgres:
            pg_database = f"inkless_bench_{secrets.token_hex(4)}"
            pg_admin(args.postgres, f'CREATE DATABASE "{pg_database}"')
            dsn, sa_url = pg_dsn(args.postgres, pg_database)
            servers.append(start_inkless(procs, tmp / "postgres", sa_url, inkless_cmd,
                                         "Inkless (PostgreSQL)", "inkless-pg", PostgresProbe(dsn)))
        for s in servers:
            print(f"{s.label}: pid {s.proc.pid}, port {s.port}", flush=True)

        if args.warmup:
            for s in servers:
                drive(args, s.port, args.warmup)
                if s.probe is not None:
                    wait_drained(s, args.drain_timeout)
            print(f"warm-up: {args.warmup} messages accepted by each server", flush=True)

        for run in range(1, args.runs + 1):
            for s in servers:
                pyspy = None
                if args.py_spy and s.key == args.py_spy_server and run == args.runs:
                    pyspy = start_pyspy(procs, args.py_spy, s.proc.pid, venv_bin)
                measure(args, s, run, pyspy)

        # Stop: the sink reports its count; Inkless must exit 0 (clean shutdown).
        for s in servers:
            rc = procs.stop(s.proc)
            if s.key == "aiosmtpd" and s.log is not None:
                last = s.log.read_text(errors="replace").strip().splitlines()
                s.notes.append(" / ".join(last[-2:]))
            elif s.key.startswith("inkless"):
                s.notes.append(f"`inkless serve` exit code after SIGTERM: {rc}")
        for s in servers:
            if s.probe is None:
                continue
            rows = s.probe.query("SELECT status, count(*) FROM inbound GROUP BY status ORDER BY status")
            s.notes.append("final inbound status counts: " + ", ".join(f"{k}={v}" for k, v in rows))
            rows = s.probe.query("SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status")
            s.notes.append("final outbox status counts: " + ", ".join(f"{k}={v}" for k, v in rows))

        env["load_end"] = loadavg()
        text = report(args, servers, env)
        print()
        print(text)
        results = Path(args.results)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(text + "\n", encoding="utf-8")
        print(f"written to {results} and {write_rows(results, result_rows(args, servers))}")
        return 0
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if pg_database is not None and args.postgres:
            try:
                pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
            except Exception as exc:
                print(f"warning: could not drop database {pg_database}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def start_pyspy(procs: Processes, out: str, pid: int, venv_bin: Path) -> subprocess.Popen[bytes]:
    exe = venv_bin / "py-spy" if (venv_bin / "py-spy").exists() else shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--py-spy: py-spy not installed (.venv/bin/pip install py-spy)")
    fmt = {".svg": "flamegraph", ".txt": "raw", ".json": "speedscope"}.get(Path(out).suffix, "flamegraph")
    proc = procs.start("py-spy", [str(exe), "record", "--pid", str(pid), "--rate", "250", "--format", fmt,
                                  "--output", out, "--nonblocking"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach before the timed run
    return proc


if __name__ == "__main__":
    sys.exit(main())
