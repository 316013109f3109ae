#!/usr/bin/env python3
"""Processing (SPEC §8, issue 21): how fast `inkless serve` drains a backlog of stored documents.

Per scenario (a backend, a number of processes, a shape), with a new temporary folder, a new
database and a new Postfix smtp-sink as the relay:
  1. writes org.yaml: a sender unit `office` without approvers (its clerk sends) and the
     addressed unit `to` with --pair (2) or --wide (50) members; with --units N, N such pairs of
     units, whose documents take turns in the backlog (each unit numbers its own documents, so
     processes do not all wait for one unit's number counter);
  2. starts `inkless serve` once, so it migrates the database and imports the org, and stops it;
  3. starts the processes (each waits for its 220), so that all of them are up before there is
     any work: a process's start-up (imports, the org) is not counted, and with several
     processes none drains the backlog alone while the next one starts;
  4. stores the backlog in one transaction, the way the SMTP edge stores it: --documents rows in
     `inbound` (status `new`), each a ~1.5 KB Chinese 通知 from the clerk to to@ (envelope and
     bytes as an SMTP client would have sent them); the processes find it at their next poll;
  5. waits until every inbound row is `done`, every outbox row `sent` and smtp-sink has
     accepted every copy and the sender's "issued" notices;
  6. from the database's own clocks: processing = first inbound claim → last inbound
     `processed_at` (documents/s), delivery = first inbound claim → last outbox `sent_at`
     (copies/s, personal copies only; the sender's notices are counted apart).
The baseline is the ingest figure of the same `make bench` run (bench/results/ingest.json,
Inkless on the same backend): the target is two-recipient documents/s per process ≥ 0.5 × that.
Prints a table, writes bench/results/process.md and process.json for bench/summary.py.

usage: .venv/bin/python bench/process.py [--documents 5000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/x]
       [--pg-processes 1,2,4] [--shapes pair,wide] [--skip-sqlite]
Needs: Postfix's smtp-sink on PATH; the repo's venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import asyncpg
import yaml
from common import (
    CpuMeter,
    Probe,
    Processes,
    Sink,
    end_scenario,
    epoch,
    free_port,
    loadavg,
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
SHAPES = {"pair": 2, "wide": 50}
BODY = (
    "各乡镇人民政府，县直各部门、各单位：\n\n"
    "为进一步提高公文流转效率，减少纸质文件印发和传递环节，经县政府研究同意，决定自即日起在全县范围内全面推行电子公文收发。"
    "现将有关事项通知如下：\n\n"
    "一、各单位要明确一名文书负责本单位公文的收发、登记和归档工作，确保收到公文后当日签收、按时办理。\n\n"
    "二、对需要回复的事项，请直接回复收到的邮件，系统将自动登记回执。\n\n"
    "三、县政府办公室负责统筹协调，县大数据中心负责技术保障。各单位在推行过程中遇到的问题，请及时与县政府办公室联系。\n\n"
    "联系人：王文书，联系电话：0911-1234567。\n\n县政府办公室\n2026年12月3日\n"
)


def clerk(unit: int) -> str:
    """The clerk of sender unit `unit` (0: the only one unless --units says more)."""
    return CLERK if unit == 0 else f"clerk{unit}@bench.gov"


def addressed(unit: int) -> str:
    """The unit that sender unit `unit`'s documents go to: its own sub-unit."""
    return "to" if unit == 0 else f"to{unit}"


def write_org(folder: Path, recipients: int, units: int) -> None:
    org: dict[str, list[dict[str, object]]] = {"units": []}
    for unit in range(units):
        office = "office" if unit == 0 else f"office{unit}"
        org["units"] += [
            {"id": office, "name": f"县政府办公室{unit or ''}", "doc_prefix": f"基准{unit or ''}办发", "members": [
                {"email": clerk(unit), "name": "王文书", "roles": ["clerk"]}]},
            {"id": addressed(unit), "name": f"收文单位{unit or ''}", "parent": office, "members": [
                {"email": f"staff{unit or ''}{i:03d}@bench.gov", "name": person_name(i)} for i in range(recipients)]},
        ]
    (folder / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")


def write_config(folder: Path, name: str, database: str, relay_port: int) -> tuple[Path, int]:
    smtp_port, web_port = free_port(), free_port()
    config = {
        "domain": DOMAIN, "database": database, "secret_key": "bench-" + secrets.token_hex(16),
        "language": "zh", "org": "org.yaml",
        "smtp": {"listen": f"127.0.0.1:{smtp_port}"},
        "web": {"listen": f"127.0.0.1:{web_port}", "base_url": f"http://127.0.0.1:{web_port}"},
        "relay": {"url": f"smtp://127.0.0.1:{relay_port}?starttls=off"},
        "worker": {"scheduler_interval": 3600, "poll_interval": 0.2},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path, smtp_port


def document(index: int, units: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"王文书 <{clerk(index % units)}>"
    message["To"] = f"{addressed(index % units)}@{DOMAIN}"
    message["Subject"] = f"[通知] 关于推行电子公文收发的第{index + 1}号通知"
    message["Message-ID"] = f"<bench.{secrets.token_hex(8)}@bench.gov>"
    message.set_content(BODY)
    return message.as_bytes(policy=SMTP_POLICY)


async def store_backlog(probe: Probe, count: int, units: int) -> None:
    """Rows in `inbound` exactly as the SMTP edge commits them (status new); with several sender
    units, their documents take turns."""
    now = datetime.now(timezone.utc)
    rows = [(now, "smtp", "127.0.0.1", clerk(i % units), f"{addressed(i % units)}@{DOMAIN}", document(i, units),
             0) for i in range(count)]
    rows = [(*r[:6], len(r[5])) for r in rows]
    if probe.sqlite_path is not None:
        db = sqlite3.connect(str(probe.sqlite_path), timeout=30)
        try:
            with db:
                db.executemany(
                    "INSERT INTO inbound (received_at, source, peer, mail_from, rcpt_tos, raw, size, status, attempts)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'new', 0)",
                    [(r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:]) for r in rows])
        finally:
            db.close()
        return
    connection = await asyncpg.connect(probe.dsn)
    try:
        await connection.executemany(
            "INSERT INTO inbound (received_at, source, peer, mail_from, rcpt_tos, raw, size, status, attempts)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'new', 0)", rows)
    finally:
        await connection.close()


@dataclass
class Result:
    backend: str
    processes: int
    shape: str
    documents: int
    recipients: int
    units: int = 1
    processing: float = float("nan")
    delivery: float = float("nan")
    copies: int = 0
    # CPU seconds from the backlog stored (every process up) to the last document processed: "window" (wall
    # seconds), "machine" (every core), "inkless", "postgres", "smtp-sink".
    cpu: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def cores(self, name: str) -> float:
        """How many cores `name` kept busy on average while the documents were processed."""
        return self.cpu[name] / self.cpu["window"] if self.cpu else float("nan")

    def per_document(self, name: str) -> float:
        """CPU milliseconds `name` spent per document processed."""
        return self.cpu[name] * 1000 / self.documents if self.cpu else float("nan")

    @property
    def label(self) -> str:
        units = f", {self.units} sender units" if self.units > 1 else ""
        return f"{self.backend}, {self.processes} process{'es' if self.processes > 1 else ''}{units}"

    @property
    def documents_rate(self) -> float:
        return self.documents / self.processing

    @property
    def copies_rate(self) -> float:
        return self.copies / self.delivery


async def wait_drained(probe: Probe, sink: Sink, expected: int, timeout: float,
                       alive: list[subprocess.Popen[bytes]], processed: Callable[[], None]) -> None:
    """Until every document is processed and every copy at the sink; `processed` is called once,
    when no inbound row is left new or processing."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        inbound = dict(await probe.query("SELECT status, count(*) FROM inbound GROUP BY status"))
        if not told and not inbound.get("new") and not inbound.get("processing"):
            processed()
            told = True
        outbox = dict(await probe.query("SELECT status, count(*) FROM outbox GROUP BY status"))
        if not inbound.get("new") and not inbound.get("processing") and not outbox.get("queued") \
                and not outbox.get("sending") and sink.count >= expected:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not drained after {timeout:.0f}s: inbound {inbound}, outbox {outbox},"
                               f" sink {sink.count} of {expected}")
        for proc in alive:
            if proc.poll() is not None:
                raise RuntimeError(f"inkless serve (pid {proc.pid}) exited with {proc.returncode}")
        await asyncio.sleep(0.2)


async def scenario(args: argparse.Namespace, backend: str, processes: int, shape: str) -> Result:
    result = Result(backend, processes, shape, args.documents, SHAPES[shape], args.units)
    name = f"{result.label}, {shape}"
    folder = Path(tempfile.mkdtemp(prefix="inkless-bench-process-"))
    procs = Processes()
    pg_name: str | None = None
    probe: Probe | None = None
    try:
        if backend == "PostgreSQL":
            pg_name = f"inkless_bench_{secrets.token_hex(4)}"
            await pg_admin(args.postgres, f'CREATE DATABASE "{pg_name}"')
            dsn, database = pg_urls(args.postgres, pg_name)
            probe = Probe(dsn=dsn)
        else:
            database = f"sqlite+aiosqlite:///{folder}/inkless.db"
            probe = Probe(sqlite_path=folder / "inkless.db")
        write_org(folder, result.recipients, args.units)
        sink = Sink(procs, clock=time.perf_counter)
        inkless = str(REPO / ".venv" / "bin" / "inkless")
        configs = [write_config(folder, f"serve{index}", database, sink.port) for index in range(processes)]

        # Once, to migrate and import the org.
        with (folder / "setup.log").open("wb") as out:
            setup = procs.start("inkless serve (setup)", [inkless, "serve", "-c", str(configs[0][0])],
                                stdout=out, stderr=subprocess.STDOUT, cwd=str(folder))
        wait_smtp(configs[0][1], setup, timeout=300, log=folder / "setup.log")
        if procs.stop(setup) != 0:
            raise RuntimeError(f"{name}: the setup run did not stop cleanly: {(folder / 'setup.log').read_text()[-2000:]}")

        # Every process up before there is work: none drains the backlog alone meanwhile.
        serve = []
        for index, (config, smtp_port) in enumerate(configs):
            log = folder / f"serve{index}.log"
            with log.open("wb") as out:
                proc = procs.start(f"inkless serve {index}", [inkless, "serve", "-c", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=str(folder))
            wait_smtp(smtp_port, proc, timeout=300, log=log)
            serve.append(proc)
        def cpu_seconds() -> dict[str, float]:
            return {"machine": CpuMeter.machine(), "postgres": CpuMeter.named("postgres"),
                    "smtp-sink": CpuMeter.process(sink.proc.pid),
                    "inkless": sum(map(CpuMeter.process, (p.pid for p in serve)))}

        started, ready = time.monotonic(), cpu_seconds()  # when the backlog appeared
        await store_backlog(probe, args.documents, args.units)
        print(f"  [{name}] {args.documents:,} documents stored from {args.units} sender unit(s), each to a unit"
              f" of {result.recipients} members, with {processes} process(es) running", flush=True)

        def processed() -> None:
            window = time.monotonic() - started
            used = cpu_seconds()
            result.cpu = {"window": window, **{name: used[name] - ready[name] for name in used}}

        expected = args.documents * (result.recipients + 1)  # the copies and each sender's notice
        await wait_drained(probe, sink, expected, args.timeout, serve, processed)

        states = dict(await probe.query("SELECT status, count(*) FROM inbound GROUP BY status"))
        if states != {"done": args.documents}:
            raise RuntimeError(f"{name}: inbound rows {states}, expected {args.documents} done")
        copies = int(await probe.scalar("SELECT count(*) FROM outbox WHERE kind = 'document' AND status = 'sent'"))
        if copies != args.documents * result.recipients:
            raise RuntimeError(f"{name}: {copies} personal copies sent, expected {args.documents * result.recipients}")
        first_claim = epoch(await probe.scalar("SELECT min(claimed_at) FROM inbound"))
        last_processed = epoch(await probe.scalar("SELECT max(processed_at) FROM inbound"))
        last_sent = epoch(await probe.scalar("SELECT max(sent_at) FROM outbox"))
        result.copies = copies
        result.processing = last_processed - first_claim
        result.delivery = last_sent - first_claim
        by = await probe.query("SELECT claimed_by, count(*) FROM inbound GROUP BY claimed_by ORDER BY 2 DESC")
        result.notes.append(f"documents processed per process: {', '.join(f'{n:,}' for _, n in by)}")
        exits = [procs.stop(proc) for proc in serve]
        result.notes.append(f"`inkless serve` exit codes after SIGTERM: {exits}")
        print(f"  [{name}] {result.documents_rate:,.1f} documents/s, {result.copies_rate:,.0f} copies/s", flush=True)
        return result
    finally:
        await end_scenario(procs, probe, args.postgres, pg_name, folder, args.keep)


def ingest_rates(since: float) -> dict[str, float]:
    """Inkless's ingest msgs/s per backend from this run's bench/results/ingest.json (if it is newer
    than `since`): the baseline of the processing target."""
    path = HERE / "results" / "ingest.json"
    if not path.exists() or path.stat().st_mtime < since:
        return {}
    rates: dict[str, float] = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        for backend in ("SQLite", "PostgreSQL"):
            if backend in entry["scenario"] and entry["value"] is not None:
                rates.setdefault(backend, float(entry["value"]))
    return rates


def report(args: argparse.Namespace, results: list[Result], ingest: dict[str, float], env: dict[str, str]) -> str:
    lines = [
        f"# Processing a backlog of {args.documents:,} stored documents (relay = Postfix smtp-sink)",
        "",
        f"{env['date']} · {env['host']} · {env['cpus']} CPUs · Python {env['python']}",
        f"Measured code: {env['source']}",
        f"Load average (1/5/15 min) at start {env['load_start']}, at end {env['load_end']} — the machine is shared:"
        " compare ratios from one run.",
        "",
        "| backend | processes | recipients per document | processing s | documents/s | documents/s per process"
        " | ingest msgs/s (same run) | per process / ingest | target | delivery s | copies/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results:
        base = ingest.get(r.backend)
        ratio = r.documents_rate / r.processes / base if base else float("nan")
        target = target_cell(r, ratio)
        units = f" ({r.units} sender units)" if r.units > 1 else ""
        lines.append(f"| {r.backend} | {r.processes}{units} | {r.recipients} | {r.processing:.1f} | **{r.documents_rate:,.1f}**"
                     f" | {r.documents_rate / r.processes:,.1f} | {f'{base:,.0f}' if base else 'n/a'} |"
                     f" {f'{ratio:.2f}×' if base else 'n/a'} | {target} | {r.delivery:.1f} | {r.copies_rate:,.0f} |")
    lines += [
        "",
        "processing = the first claim of a stored document → the last document processed (inbound.processed_at);"
        " delivery = the same start → the last outbox row sent; copies/s counts personal copies only (each"
        " document also sends its sender one \"issued\" notice). Clocks are the database's.",
        "",
    ]
    lines += cpu_report(results, int(env["cpus"]))
    for r in results:
        lines.append(f"- {r.label}, {r.shape} ({r.recipients} recipients):")
        lines += [f"  - {note}" for note in r.notes]
    lines.append("")
    return "\n".join(lines)


def alone(r: Result, results: list[Result]) -> Result | None:
    """The same backlog drained by one process in this run, if it was."""
    return next((o for o in results if (o.backend, o.shape, o.units, o.processes) == (r.backend, r.shape, r.units, 1)),
                None)


def scaling(r: Result, results: list[Result]) -> float:
    """Documents/s of all r's processes ÷ one process's, same backlog, same run (NaN without it)."""
    one = alone(r, results)
    return r.documents_rate / one.documents_rate if one and r.processes > 1 else float("nan")


def cpu_report(results: list[Result], cpus: int) -> list[str]:
    """What processing cost in CPU, and what that leaves for more processes on this machine."""
    lines = [
        f"CPU while the documents were processed (from the backlog stored, every process up, to the last document processed;"
        f" /proc), on {cpus} cores:",
        "",
        "| scenario | documents/s | × 1 process | cores busy: machine | inkless | PostgreSQL | smtp-sink"
        " | CPU ms per document: inkless | PostgreSQL | machine |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ratio = scaling(r, results)
        target = " (≥ 1.8×: " + ("met" if ratio >= 1.8 else "NOT met") + ")" if r.processes == 2 and r.shape == "pair" \
            and ratio == ratio else ""
        lines.append(f"| {r.label}, {r.shape} | {r.documents_rate:,.1f} | {f'{ratio:.2f}×' if ratio == ratio else ''}"
                     f"{target} | {r.cores('machine'):.2f} | {r.cores('inkless'):.2f} | {r.cores('postgres'):.2f} |"
                     f" {r.cores('smtp-sink'):.2f} | {r.per_document('inkless'):.2f} | {r.per_document('postgres'):.2f}"
                     f" | {r.per_document('machine'):.2f} |")
    lines += ["", "Cores busy well below the machine's with several processes means they waited (on a lock),"
              " not that the machine was full. The machine's figure includes this bench's own polling.", ""]
    return lines


def target_cell(r: Result, ratio: float) -> str:
    if r.shape != "pair" or ratio != ratio:
        return ""
    if r.processes == 1:
        return f"≥ 0.5× ({'met' if ratio >= 0.5 else 'NOT met'})"
    return ""


def result_rows(results: list[Result], ingest: dict[str, float], env: dict[str, str]) -> list[ResultRow]:
    rows = []
    for r in results:
        base = ingest.get(r.backend)
        scenario = f"{r.label}, {r.recipients} recipients each"
        per_process = r.documents_rate / r.processes
        if r.shape == "pair" and base:
            ratio = per_process / base
            rows.append(row("process", scenario, "documents/s per process", per_process, "documents/s",
                            f"Inkless ingest, {r.backend}", base, ratio, "≥ 0.5×" if r.processes == 1 else "",
                            ratio >= 0.5 if r.processes == 1 else None, env["source"]))
        else:
            rows.append(row("process", scenario, "documents/s per process", per_process, "documents/s",
                            source=env["source"]))
        if r.processes == 2 and r.shape == "pair" and (one := alone(r, results)):
            ratio = scaling(r, results)
            rows.append(row("process", scenario, "documents/s, all processes", r.documents_rate, "documents/s",
                            f"1 process, {r.backend}, same backlog", one.documents_rate, ratio, "≥ 1.8×",
                            ratio >= 1.8, env["source"]))
        rows.append(row("process", scenario, "copies/s", r.copies_rate, "copies/s", source=env["source"]))
    return rows


async def run(args: argparse.Namespace) -> tuple[str, list[ResultRow]]:
    started = time.time()
    env = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "host": platform.node(), "cpus": str(os.cpu_count()),
           "python": platform.python_version(), "load_start": loadavg(), "source": source_state()}
    since = float((HERE / "results" / ".run-started").read_text()) if (HERE / "results" / ".run-started").exists() \
        else started - 24 * 3600
    plan: list[tuple[str, int]] = [] if args.skip_sqlite else [("SQLite", 1)]
    if args.postgres:
        plan += [("PostgreSQL", int(n)) for n in args.pg_processes.split(",")]
    results = []
    for shape in args.shapes.split(","):
        for backend, processes in plan:
            print(f"{backend}, {processes} process(es), {shape}:", flush=True)
            results.append(await scenario(args, backend, processes, shape))
    env["load_end"] = loadavg()
    ingest = ingest_rates(since)
    return report(args, results, ingest, env), result_rows(results, ingest, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=5000, help="stored documents in the backlog (default 5000)")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (a scratch database per scenario)")
    parser.add_argument("--pg-processes", default="1,2,4", help="PostgreSQL scenarios: processes, comma-separated")
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL scenarios")
    parser.add_argument("--shapes", default="pair,wide", help="pair (2 recipients) and/or wide (50), comma-separated")
    parser.add_argument("--units", type=int, default=1,
                        help="sender units whose documents take turns in the backlog (default 1: one unit, one"
                             " number counter for every document)")
    parser.add_argument("--timeout", type=float, default=1800, help="max seconds to drain one backlog")
    parser.add_argument("--results", help="markdown results file (default bench/results/process.md)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (serve logs, SQLite)")
    args = parser.parse_args()
    if unknown := set(args.shapes.split(",")) - set(SHAPES):
        parser.error(f"--shapes: unknown {', '.join(sorted(unknown))} (pair, wide)")
    if shutil.which("smtp-sink") is None:
        raise SystemExit("smtp-sink not found: install Postfix (apt-get install postfix, 'No configuration')")
    return run_and_report(run(args), Path(args.results) if args.results else HERE / "results" / "process.md")


if __name__ == "__main__":
    sys.exit(main())
