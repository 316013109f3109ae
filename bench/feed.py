#!/usr/bin/env python3
"""Calendar feed (SPEC §8): a 5,000-event feed, cold render ≤ 0.25 × bare `icalendar`; 304 p50 ≤ 2 ms.

One run:
  1. makes a temporary folder with config.yaml and org.yaml, and a database (SQLite by
     default, --postgres URL for a scratch PostgreSQL database, dropped at the end);
  2. migrates it, imports the org and inserts --events meetings for one person P straight
     through SQLAlchemy (a few big transactions, no mail), each with P as attendee, a varied
     PARTSTAT and its stored VEVENT text rendered by `inkless.calendar.events.render`; all
     of them fall inside the feed window (past 60 days to next 300 days); then takes P's
     feed URL;
  3. starts the real `inkless serve` and waits for /healthz;
  4. baseline, in this process: the same events (read from the database beforehand) built
     with bare `icalendar` objects (Calendar, VTIMEZONE, Event with UID, DTSTAMP,
     DTSTART/DTEND, SUMMARY, DESCRIPTION, LOCATION, SEQUENCE, STATUS, ORGANIZER, one
     ATTENDEE) and serialised with to_ical(), --repeat times, median;
  5. cold render over HTTP: bump the calendar generation (so the server's ETag changes and
     its cache misses), then time one GET with the whole body read; --cold times, median;
  6. warm render: GETs without a bump (served from the server's cache), p50;
  7. 304: If-None-Match with the last ETag, p50/p95 over --conditional requests on one
     keep-alive session; If-Modified-Since, p50;
  8. 404: an unknown token of the same length, p50 (the same look-up as a 304);
  9. gzip: one GET with Accept-Encoding: gzip, its size against the plain body;
 10. validity: the served feed parsed with icalendar.Calendar.from_ical holds exactly the
     inserted UIDs, each with P's PARTSTAT.
Prints a table and writes bench/results/feed.md (feed-pg.md with --postgres), and the targeted
figures as rows for bench/summary.py in feed.json (feed-pg.json). The machine is shared and
noisy: compare the ratio cold/baseline, measured in the same run.

usage: .venv/bin/python bench/feed.py [--events 5000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/x]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import yaml
from common import drop_scratch, free_port, percentile, run_and_report, scratch_database, wait_healthy
from rows import ResultRow, row
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.calendar.events import render
from inkless.calendar.feeds import feed_url
from inkless.config import Config, build_config
from inkless.office import Office
from inkless.org import load_org
from inkless.storage import migrate
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.models import Attendee, Event
from inkless.storage.org import import_org, load_directory
from inkless.tokens import TokenSigner

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOMAIN = "oa.bench.gov"
HOST, PERSON = "host@bench.gov", "staff@bench.gov"
PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE")
PLACES = ("县政府三楼第一会议室", "财政局二楼会商室", "教育局报告厅", "视频会议（各乡镇分会场）")
PLAIN = {"Accept-Encoding": "identity"}
BATCH = 1000


def write_config(folder: Path, database: str, web_port: int) -> Config:
    org = {"units": [
        {"id": "office", "name": "县政府办公室", "doc_prefix": "基准办发", "members": [
            {"email": HOST, "name": "李主任", "roles": ["leader"]}]},
        {"id": "bench", "name": "基准单位", "parent": "office", "members": [
            {"email": "clerk@bench.gov", "name": "王文书", "roles": ["clerk"]},
            {"email": PERSON, "name": "张科员"}]},
    ]}
    (folder / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    data = {
        "domain": DOMAIN, "database": database, "secret_key": secrets.token_hex(16), "org": "org.yaml",
        "smtp": {"listen": f"127.0.0.1:{free_port()}"},
        "web": {"listen": f"127.0.0.1:{web_port}", "base_url": f"http://127.0.0.1:{web_port}"},
        "relay": {"url": "maildir://var/outbox"},
        "worker": {"scheduler_interval": 3600},
        "calendar": {},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return build_config(data, source=str(path), base_dir=folder)


def description(index: int) -> str:
    text = (f"各有关单位：为做好第{index}次协调工作，请分管负责同志准时参会，并提前准备本单位落实情况、"
            "存在问题和下一步工作打算的书面材料（一式五份）。会议议程：一、通报前期工作进展；二、各单位汇报；"
            "三、研究部署下一阶段重点任务；四、领导讲话。请于会前一日下班前将参会人员名单报县政府办公室，"
            "联系电话：0911-1234567。")
    return text[:200]


@dataclass(frozen=True)
class Row:
    """One event as the baseline needs it, read before timing."""

    uid: str
    title: str
    description: str
    location: str | None
    start: datetime
    end: datetime
    stamp: datetime
    sequence: int
    status: str
    organizer: str
    organizer_name: str | None
    attendee: str
    attendee_name: str | None
    partstat: str


async def fill(config: Config, events: int, now: datetime) -> tuple[str, list[Row]]:
    """Migrate, import the org, insert the events for P; P's feed URL and the rows."""
    engine = create_engine(config)
    try:
        await migrate.upgrade(engine, config.sqlite_path)
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            assert config.org_path is not None
            await import_org(session, load_org(config.org_path), now=now)
        async with sessions() as session:
            directory = await load_directory(session)
        office = Office(config, directory, TokenSigner(config.secret_key, config.domain))
        person, host = directory.person(PERSON), directory.person(HOST)
        assert person is not None and host is not None
        first, span = now - timedelta(days=59), timedelta(days=359)
        for begin in range(0, events, BATCH):
            async with sessions() as session, session.begin():
                batch = []
                for index in range(begin, min(begin + BATCH, events)):
                    start = (first + span * index / events).replace(second=0, microsecond=0)
                    cancelled = index % 50 == 7
                    created = min(start, now) - timedelta(days=3)
                    event = Event(
                        uid=f"bench-{index:05d}-{secrets.token_hex(4)}@{DOMAIN}", kind="meeting",
                        title=f"第{index}次协调会", description=description(index), location=PLACES[index % len(PLACES)],
                        start=start, end=start + timedelta(minutes=30 * (2 + index % 5)), all_day=False,
                        organizer=host.email, organizer_name=host.name, unit_id="office", private=False,
                        sequence=index % 3, status="CANCELLED" if cancelled else "CONFIRMED", source="api",
                        created_at=created, updated_at=created + timedelta(hours=index % 7),
                        cancelled_at=now - timedelta(days=1) if cancelled else None,
                        digest_at=created)  # no digests mailed by the scheduler during the run
                    render(event, office)
                    batch.append(event)
                session.add_all(batch)
                await session.flush()
                session.add_all([Attendee(event_id=event.id, person_id=person.id, email=person.email, name=person.name,
                                          partstat=PARTSTATS[event.id % len(PARTSTATS)]) for event in batch])
        async with sessions() as session, session.begin():
            url = await feed_url(session, config, person_id=person.id, now=now)
        async with sessions() as session:
            result = await session.execute(
                select(Event.uid, Event.title, Event.description, Event.location, Event.start, Event.end,
                       Event.updated_at, Event.sequence, Event.status, Event.organizer, Event.organizer_name,
                       Attendee.email, Attendee.name, Attendee.partstat)
                .join(Attendee, Attendee.event_id == Event.id).where(Attendee.person_id == person.id)
                .order_by(Event.start, Event.id))
            rows = [Row(*row) for row in result.all()]
        return url, rows
    finally:
        await engine.dispose()


def build_with_icalendar(rows: list[Row], zone: ZoneInfo) -> bytes:
    """The baseline: the same feed as bare `icalendar` objects, serialised."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Inkless bench//icalendar baseline//ZH")
    calendar.add("version", "2.0")
    calendar.add_component(icalendar.Timezone.from_tzid(zone.key))
    for item in rows:
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", item.stamp)
        event.add("dtstart", item.start.astimezone(zone))
        event.add("dtend", item.end.astimezone(zone))
        event.add("summary", item.title)
        event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        event.add("sequence", item.sequence)
        event.add("status", item.status)
        organizer = icalendar.vCalAddress(f"mailto:{item.organizer}")
        if item.organizer_name:
            organizer.params["CN"] = item.organizer_name
        event.add("organizer", organizer)
        attendee = icalendar.vCalAddress(f"mailto:{item.attendee}")
        if item.attendee_name:
            attendee.params["CN"] = item.attendee_name
        attendee.params["CUTYPE"] = "INDIVIDUAL"
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = item.partstat
        event.add("attendee", attendee)
        calendar.add_component(event)
    return bytes(calendar.to_ical())


async def timed_get(client: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    status: int = 200) -> tuple[float, aiohttp.ClientResponse, bytes]:
    started = time.perf_counter()
    async with client.get(url, headers=headers) as response:
        body = await response.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status == status, (response.status, body[:200])
    return elapsed, response, body


async def bump(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE calendar_state SET generation = generation + 1 WHERE id = 1"))


async def run(args: argparse.Namespace) -> tuple[str, list[ResultRow]]:
    folder = Path(tempfile.mkdtemp(prefix="inkless-bench-feed-"))
    database, pg_name = await scratch_database(args.postgres, folder)
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    log = folder / "serve.log"
    process: subprocess.Popen[bytes] | None = None
    engine = None
    try:
        config = write_config(folder, database, web_port)
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        url, rows = await fill(config, args.events, now)
        fill_seconds = time.perf_counter() - started
        assert len(rows) == args.events, len(rows)
        process = subprocess.Popen([str(REPO / ".venv" / "bin" / "python"), "-m", "inkless", "serve", "-c",
                                    str(folder / "config.yaml")], cwd=folder,
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT)
        engine = create_engine(config)
        sessions = session_factory(engine)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as client:
            await wait_healthy(client, base, process, log)

            # 4. The baseline, in this process.
            baseline, reference = [], b""
            for _ in range(args.repeat):
                began = time.perf_counter()
                reference = build_with_icalendar(rows, config.zone)
                baseline.append((time.perf_counter() - began) * 1000)

            # 5. Cold: a new generation before each GET, so the server's cache cannot answer.
            # The first request carries one-off costs (imports, VTIMEZONE): reported, not counted.
            first_ms, response, _ = await timed_get(client, url, PLAIN)
            cold, body, etags = [], b"", {response.headers["ETag"]}
            for _ in range(args.cold):
                await bump(sessions)
                elapsed, response, body = await timed_get(client, url, PLAIN)
                cold.append(elapsed)
                etags.add(response.headers["ETag"])
            assert len(etags) == args.cold + 1, "a bump did not change the ETag: the cold GETs were not cold"

            # 6. Warm: the same ETag, from the server's cache.
            warm = []
            for _ in range(args.warm):
                elapsed, response, body = await timed_get(client, url, PLAIN)
                warm.append(elapsed)
            etag, last_modified = response.headers["ETag"], response.headers["Last-Modified"]

            # 7. Conditional requests: 304 from the token look-up.
            not_modified = []
            for _ in range(args.conditional):
                elapsed, _, empty = await timed_get(client, url, {**PLAIN, "If-None-Match": etag}, 304)
                assert not empty
                not_modified.append(elapsed)
            since = []
            for _ in range(args.conditional):
                elapsed, _, _ = await timed_get(client, url, {**PLAIN, "If-Modified-Since": last_modified}, 304)
                since.append(elapsed)

            # 8. Unknown token of the same length.
            token = url.rsplit("/", 1)[1].removesuffix(".ics")
            unknown = base64.b32encode(secrets.token_bytes(20)).decode().lower()
            assert len(unknown) == len(token)
            missing = []
            for _ in range(args.conditional):
                elapsed, _, _ = await timed_get(client, url.replace(token, unknown), PLAIN, 404)
                missing.append(elapsed)

            # 9. gzip (the first gzip request of this ETag compresses it).
            gzip_ms, gzip_response, packed = await timed_get(client, url, {"Accept-Encoding": "gzip"})
            assert gzip_response.headers.get("Content-Encoding") == "gzip"

        # 10. Validity.
        served = icalendar.Calendar.from_ical(body.decode())
        vevents = served.walk("VEVENT")
        expected = {item.uid: item.partstat for item in rows}
        seen = {}
        for vevent in vevents:
            attendee = vevent.get("ATTENDEE")
            seen[str(vevent["UID"])] = str(attendee.params.get("PARTSTAT")) if attendee is not None else None
        assert len(vevents) == args.events, f"{len(vevents)} VEVENTs served, {args.events} expected"
        assert seen == expected, "served UIDs or PARTSTATs differ from the database"
        assert len(icalendar.Calendar.from_ical(reference).walk("VEVENT")) == args.events
        assert gzip.decompress(packed) == body
        valid = "yes"
    finally:
        exit_code = None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                exit_code = process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if engine is not None:
            await engine.dispose()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        await drop_scratch(args.postgres, pg_name)

    base_ms, cold_ms = statistics.median(baseline), statistics.median(cold)
    ratio = cold_ms / base_ms
    p304, p304_95 = percentile(not_modified, 0.5), percentile(not_modified, 0.95)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    scenario = f"{backend}, {args.events:,} events"
    figures = [row("feed", scenario, f"cold render over HTTP ms, median of {args.cold}", cold_ms, "ms",
                   f"bare icalendar build + to_ical, median of {args.repeat}", base_ms, ratio, "≤ 0.25×",
                   ratio <= 0.25),
               row("feed", scenario, f"304 If-None-Match p50 ms, of {args.conditional}", p304, "ms",
                   target="p50 ≤ 2 ms", met=p304 <= 2)]
    return "\n".join([
        f"# Calendar feed ({backend}, {args.events:,} events, {os.cpu_count()} cores, "
        f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3])})",
        "",
        "| measurement | value | target |",
        "| --- | --- | --- |",
        f"| baseline: bare `icalendar` build + to_ical, median of {args.repeat} | {base_ms:.0f} ms | |",
        f"| first GET after start (not counted) | {first_ms:.0f} ms | |",
        f"| cold render over HTTP (generation bumped), median of {args.cold} | {cold_ms:.0f} ms "
        f"(min {min(cold):.0f}, max {max(cold):.0f}) | |",
        f"| ratio cold / baseline | {ratio:.3f} | ≤ 0.25: {'met' if ratio <= 0.25 else 'NOT met'} |",
        f"| warm (server cache), p50 of {args.warm} | {percentile(warm, 0.5):.1f} ms | |",
        f"| 304 If-None-Match, p50 / p95 of {args.conditional} | {p304:.2f} / {p304_95:.2f} ms | "
        f"p50 ≤ 2 ms: {'met' if p304 <= 2 else 'NOT met'} |",
        f"| 304 If-Modified-Since, p50 | {percentile(since, 0.5):.2f} ms | |",
        f"| 404 unknown token, p50 | {percentile(missing, 0.5):.2f} ms | ≈ 304 |",
        f"| body (plain) | {len(body):,} bytes | |",
        f"| gzip | {len(packed):,} bytes ({len(packed) / len(body):.1%}), first gzip GET {gzip_ms:.0f} ms | |",
        f"| baseline body (icalendar) | {len(reference):,} bytes | |",
        "",
        f"valid: {valid} ({len(vevents):,} VEVENTs, UIDs and PARTSTATs as stored); "
        f"fill took {fill_seconds:.1f} s; inkless serve exit code after SIGTERM: {exit_code}.",
    ]), figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="baseline builds (median)")
    parser.add_argument("--cold", type=int, default=7, help="cold GETs, each after a generation bump (median)")
    parser.add_argument("--warm", type=int, default=50, help="cached GETs (p50)")
    parser.add_argument("--conditional", type=int, default=500, help="304 and 404 requests of each kind")
    parser.add_argument("--postgres", help="postgresql+asyncpg://user@host:port/anydb (a scratch database is made)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (serve.log)")
    args = parser.parse_args()
    return run_and_report(run(args), HERE / "results" / ("feed-pg.md" if args.postgres else "feed.md"))


if __name__ == "__main__":
    sys.exit(main())
