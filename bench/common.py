"""What the benchmarks share: ports, processes, the scratch PostgreSQL database, percentiles,
and the line saying which code was measured."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

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


def source_state() -> str:
    """Which code was measured: HEAD, uncommitted files under src/, and a hash of src/ (others edit it)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else "?"
    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    dirty = [line.split(maxsplit=1)[1] for line in git("status", "--porcelain", "--", "src").splitlines() if line]
    changes = f" + uncommitted {', '.join(p.removeprefix('src/inkless/') for p in dirty)}" if dirty else ""
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
