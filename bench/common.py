"""What the benchmarks share: ports, processes, Postfix smtp-sink with its counters, the scratch
PostgreSQL database, percentiles, and the line saying which code was measured."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from rows import ResultRow, write_rows

REPO = Path(__file__).resolve().parent.parent
# Chinese names for generated members.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def source_state(named: tuple[str, ...] | None = None) -> str:
    """Which code was measured: HEAD, the uncommitted files under src/ (with `named`, only those
    by name and the others counted), and a hash of src/ (others edit it)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else "?"
    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    dirty = [line.split(maxsplit=1)[1] for line in git("status", "--porcelain", "--", "src").splitlines() if line]
    shown = dirty if named is None else [path for path in dirty if path in named]
    changes = f" + uncommitted {', '.join(p.removeprefix('src/inkless/') for p in shown)}" if shown else ""
    if len(dirty) > len(shown):
        changes += f" + {len(dirty) - len(shown)} other uncommitted files"
    return f"src at {git('rev-parse', '--short', 'HEAD')}{changes} (sha256 of src/*.py {digest.hexdigest()[:12]})"


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def person_name(index: int) -> str:
    return SURNAMES[index % len(SURNAMES)] + GIVEN[(index // len(SURNAMES)) % len(GIVEN)] \
        + GIVEN[(index * 7 + 3) % len(GIVEN)]


def pg_urls(url: str, database: str) -> tuple[str, str]:
    """(asyncpg DSN, SQLAlchemy URL) for `database` on the server of `url`."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"--postgres: expected postgresql+asyncpg://..., got {parts.scheme}://")
    return (urlunsplit(("postgresql", parts.netloc, "/" + database, parts.query, "")),
            urlunsplit(("postgresql+asyncpg", parts.netloc, "/" + database, parts.query, "")))


async def pg_admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(pg_urls(url, "postgres")[0])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def wait_smtp(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path | None = None) -> None:
    """Wait until the port answers with a 220 greeting (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"pid {proc.pid} exited with {proc.returncode} before listening\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    with contextlib.suppress(OSError):
                        s.recv(512)
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not answer 220 within {timeout:.0f}s")


class Processes:
    """Every child we start, stopped by PID (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = subprocess.Popen(cmd, **kwargs)
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return proc.returncode

    def stop_all(self) -> None:
        for name, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as exc:  # keep going: every process must go
                print(f"warning: stopping {name} (pid {proc.pid}): {exc}", file=sys.stderr)
        self.procs = []


class CpuMeter:
    """CPU seconds used so far, from /proc: the whole machine (every core's busy time), chosen
    processes (all their threads), and the PostgreSQL server's processes (what the database did
    for them). A processing rate says how fast; this says what it cost and how much of the
    machine was left, which bounds what more processes could do on it."""

    TICK = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def machine() -> float:
        """Busy CPU seconds of every core together since boot (all but idle and iowait)."""
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / CpuMeter.TICK

    @staticmethod
    def process(pid: int) -> float:
        """A process's user + system CPU seconds (its threads included); 0 once it is gone."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
        return (int(fields[11]) + int(fields[12])) / CpuMeter.TICK

    @staticmethod
    def named(command: str) -> float:
        """CPU seconds of every live process whose name is `command` (postgres: the server and its
        backends; a backend that exits between two readings takes its last share with it)."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if (entry / "comm").read_text().strip() == command:
                        total += CpuMeter.process(int(entry.name))
                except OSError:
                    continue
        return total


class Sink:
    """Postfix smtp-sink with running counters (-c); a thread timestamps every new `mesg=` value."""

    COUNTER = re.compile(rb"mesg=(\d+)")

    def __init__(self, procs: Processes, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # the caller's clock, to compare with its own timestamps
        self.port = free_port()  # smtp-sink binds with SO_REUSEPORT: always a fresh port
        cmd = ["smtp-sink", "-c", f"127.0.0.1:{self.port}", "1000"]
        if os.geteuid() == 0:
            cmd[2:2] = ["-u", "nobody"]
        self.proc = procs.start("smtp-sink", cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.count = 0
        self.counts: list[int] = []  # ascending mesg values ...
        self.times: list[float] = []  # ... and when they were read (self.clock)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="smtp-sink counters", daemon=True)
        self._thread.start()
        wait_smtp(self.port, self.proc, timeout=30)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        pending = b""
        while True:
            chunk = self.proc.stdout.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                return
            now = self.clock()
            pending += chunk
            records, _, pending = pending.rpartition(b"\r")
            found = self.COUNTER.findall(records)
            if found:
                value = int(found[-1])
                with self._lock:
                    if value > self.count:
                        self.count = value
                        self.counts.append(value)
                        self.times.append(now)

    def reached(self, value: int) -> float | None:
        """When the counter first reached `value` (self.clock), or None."""
        with self._lock:
            index = bisect.bisect_left(self.counts, value)
            return self.times[index] if index < len(self.times) else None

    async def wait_for(self, value: int, timeout: float, alive: list[subprocess.Popen[bytes]]) -> float:
        deadline = time.monotonic() + timeout
        while (at := self.reached(value)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"smtp-sink accepted {self.count} messages, waited for {value}")
            for proc in alive:
                if proc.poll() is not None:
                    raise RuntimeError(f"inkless serve (pid {proc.pid}) exited with {proc.returncode}")
            await asyncio.sleep(0.02)
        return at


class Probe:
    """Read-only queries from the bench process: sqlite3, or one asyncpg connection."""

    def __init__(self, sqlite_path: Path | None = None, dsn: str | None = None) -> None:
        self.sqlite_path, self.dsn = sqlite_path, dsn
        self._pg: asyncpg.Connection | None = None

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.sqlite_path is not None:
            db = sqlite3.connect(str(self.sqlite_path), timeout=30)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()
        if self._pg is None:
            self._pg = await asyncpg.connect(self.dsn)
        return [tuple(row) for row in await self._pg.fetch(sql)]

    async def scalar(self, sql: str) -> Any:
        return (await self.query(sql))[0][0]

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
            self._pg = None


def run_and_report(work: Coroutine[Any, Any, tuple[str, list[ResultRow]]], results: Path) -> int:
    """Run a benchmark (SIGTERM stops it as Ctrl-C does, cleaning up), print its report and write
    it to `results`, its rows next to it; 130 when interrupted."""
    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        text, rows = asyncio.run(work)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    print()
    print(text)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text + "\n", encoding="utf-8")
    print(f"written to {results} and {write_rows(results, rows)}")
    return 0


async def wait_healthy(client: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes], log: Path, *,
                       timeout: float = 300) -> None:
    """Wait until `inkless serve` answers /healthz with 200 (or dies: its log's tail in the error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"inkless serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            async with client.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("inkless serve did not answer /healthz")


async def scratch_database(postgres: str | None, folder: Path) -> tuple[str, str | None]:
    """The database a run uses: SQLite in `folder`, or with `postgres` (a SQLAlchemy URL) a new
    `inkless_bench_<random>` on that server; (its URL, its name for drop_scratch)."""
    if not postgres:
        return f"sqlite+aiosqlite:///{folder}/inkless.db", None
    name = f"inkless_bench_{secrets.token_hex(4)}"
    await pg_admin(postgres, f'CREATE DATABASE "{name}"')
    return pg_urls(postgres, name)[1], name


async def drop_scratch(postgres: str | None, name: str | None) -> None:
    """Drop what scratch_database made on PostgreSQL (nothing for SQLite)."""
    if postgres and name:
        await pg_admin(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def epoch(value: Any) -> float:
    """A stored timestamp (aware datetime from PostgreSQL, naive UTC text from SQLite) as Unix time."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return float(value.timestamp())


async def end_scenario(procs: Processes, probe: Probe | None, postgres: str | None, pg_name: str | None,
                       folder: Path, keep: bool) -> None:
    """After a scenario, whatever happened: every process stopped, the probe closed, the scratch
    database dropped and the folder removed (unless `keep`)."""
    procs.stop_all()
    if probe is not None:
        with contextlib.suppress(Exception):
            await probe.close()
    if postgres and pg_name is not None:
        try:
            await pg_admin(postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        except Exception as exc:
            print(f"warning: could not drop database {pg_name}: {exc}", file=sys.stderr)
    if keep:
        print(f"kept {folder}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
