#!/usr/bin/env python3
"""Memory (SPEC §8): 100,000 documents stored, `inkless serve` serving them: peak RSS ≤ 250 MB.

One run:
  1. baseline: `inkless serve` on an EMPTY database (migrated and the org imported by serve
     itself), idle for --idle seconds: its VmRSS and VmHWM;
  2. fills a second database (SQLite by default, --postgres URL for a scratch PostgreSQL database,
     dropped at the end): migrates it, imports the org (16 units, about 300 people) and inserts
     --documents issued documents straight through SQLAlchemy (Core inserts of the models'
     tables, explicit ids, transactions of 2,000 documents, no mail). Each document has a
     number, 1–3 addressed units, a creation time in the last three years, one version with a
     Chinese body of about 1 KB (300–400 characters), and 3–10 recipient rows with sent_at set
     (most also delivered/read/acknowledged); 1% have 1–2 attachments of 2–8 KB; 2% are public.
     The database is "settled": documents older than 3 days have silent_digest_at and their silent
     recipients ack_reminded_at set, as the scheduler leaves them (otherwise its first round at
     start would mail reminders and digests for every old document).
     Also --events meetings for one person P (stored VEVENT text, as bench/feed.py does) and P's
     feed URL; with --outbox also the sent outbox rows (one shared body per document, one row per
     recipient), as a database that is never pruned would hold;
  3. starts `inkless serve` on it (relay = Postfix smtp-sink, so outbound mail costs nothing) and
     samples its VmRSS and VmHWM from /proc/PID/status every 0.2 s while driving it, phase by
     phase: idle; every page of /api/v1/documents?limit=1000 following `next` (--passes times);
     1,000 random /api/v1/documents/{id} (8 at a time); P's calendar feed (3 GETs); /public and
     /public/feed.atom; /metrics (5 GETs); --mail new documents over SMTP (4 sessions, each to
     one unit, 1 in 20 with a 20 KB attachment), waiting until all are issued and delivered; idle.
Prints the peak (VmHWM) against 250 MB, the baseline, and RSS per phase; writes
bench/results/memory.md (memory-pg.md with --postgres), and the peak against the baseline as a
row for bench/summary.py in memory.json (memory-pg.json). The temporary folder is removed
unless --keep is given.

usage: .venv/bin/python bench/memory.py [--documents 100000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/x]
Needs: the repo's venv; Postfix's smtp-sink on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import asyncpg
import yaml
from common import (
    Processes,
    free_port,
    loadavg,
    person_name,
    pg_admin,
    pg_urls,
    run_and_report,
    source_state,
    wait_healthy,
)
from rows import ResultRow, row
from sqlalchemy import insert, text

from inkless.calendar.events import render
from inkless.calendar.feeds import feed_url
from inkless.config import Config, build_config
from inkless.handlers.classify import DOCUMENT_TYPES
from inkless.office import Office
from inkless.org import load_org
from inkless.storage import migrate
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.models import (
    Attachment,
    Attendee,
    Document,
    DocumentCounter,
    DocumentVersion,
    Event,
    OutboxBody,
    OutboxMessage,
    Recipient,
)
from inkless.storage.org import import_org, load_directory
from inkless.tokens import TokenSigner

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOMAIN = "oa.bench.gov"
TARGET_MB = 250.0
BATCH = 2000
PERSON = "staff-p@bench.gov"
UNITS = [  # id, name, prefix, members
    ("county-office", "县政府办公室", "延政办发", 14),
    ("finance", "财政局", "延财发", 22),
    ("education", "教育局", "延教发", 30),
    ("health", "卫生健康局", "延卫发", 24),
    ("agriculture", "农业农村局", "延农发", 20),
    ("transport", "交通运输局", "延交发", 16),
    ("environment", "生态环境局", "延环发", 14),
    ("housing", "住房和城乡建设局", "延建发", 18),
    ("civil", "民政局", "延民发", 14),
    ("hr", "人力资源和社会保障局", "延人社发", 18),
    ("market", "市场监督管理局", "延市监发", 22),
    ("emergency", "应急管理局", "延应急发", 12),
    ("town-east", "东关镇人民政府", "东政发", 20),
    ("town-west", "西川镇人民政府", "西政发", 20),
    ("town-south", "南山乡人民政府", "南政发", 16),
    ("town-north", "北塬乡人民政府", "北政发", 16),
]
TOPICS = ["做好冬季安全生产工作", "开展防汛抗旱应急演练", "加强财政预算执行管理", "推进义务教育优质均衡发展",
          "做好春季动物疫病防控", "开展农村人居环境整治", "加强道路交通安全管理", "做好秸秆禁烧工作",
          "开展安全生产大检查", "推进政务服务标准化", "做好就业创业服务", "加强食品安全监管",
          "做好防范电信网络诈骗宣传", "推进乡村振兴重点项目", "开展爱国卫生运动", "加强城乡规划管理",
          "做好困难群众救助", "开展森林防火专项整治", "规范公务接待管理", "做好年度统计调查"]
SENTENCES = [
    "为认真贯彻落实上级有关部署，结合我县实际，现就有关事项通知如下。",
    "各单位要充分认识此项工作的重要性和紧迫性，切实加强组织领导，明确责任分工。",
    "主要负责同志要亲自安排部署，分管负责同志要具体抓好落实，确保各项措施落到实处。",
    "要坚持问题导向，深入开展排查整治，对发现的问题建立台账，限期整改到位。",
    "要加强统筹协调，形成工作合力，及时研究解决工作推进中遇到的困难和问题。",
    "请各单位于本月底前将工作开展情况书面报送县政府办公室，同时报送电子版。",
    "对工作不力、推诿扯皮、造成不良影响的，将依规依纪严肃追究有关人员责任。",
    "要广泛宣传动员，引导群众积极参与，营造全社会共同关注、共同支持的良好氛围。",
    "各乡镇要结合实际制定具体实施方案，细化工作措施，明确时间节点。",
    "县直有关部门要按照职责分工，加强业务指导和监督检查，确保工作有序推进。",
    "联系人：王文书，联系电话：0911-1234567，电子邮箱见本通知落款单位地址。",
    "本通知自印发之日起施行，此前有关规定与本通知不一致的，以本通知为准。",
]
PLACES = ("县政府三楼第一会议室", "财政局二楼会商室", "教育局报告厅", "视频会议（各乡镇分会场）")


def mb(kib: int) -> float:
    return kib / 1024


def status_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


class Sampler:
    """Reads VmRSS/VmHWM of one process every `every` seconds in a thread; phases are marked by name."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int, int]] = []
        self.phases: list[tuple[str, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> tuple[int, int]:
        try:
            rss, hwm = status_kib(self.pid)
        except (OSError, KeyError):
            return 0, 0
        self.samples.append((time.perf_counter(), rss, hwm))
        return rss, hwm

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> Any:
        began = time.perf_counter()
        self.sample()
        try:
            yield
        finally:
            self.sample()
            self.phases.append((name, began, time.perf_counter()))

    def summary(self, began: float, ended: float) -> tuple[int, int, int]:
        """(max VmRSS sampled, VmRSS at the end, VmHWM at the end) within [began, ended]."""
        inside = [s for s in self.samples if began <= s[0] <= ended] or self.samples[-1:]
        return max(s[1] for s in inside), inside[-1][1], inside[-1][2]

    @property
    def peak(self) -> int:
        return max(s[2] for s in self.samples)


# --------------------------------------------------------------------------- org and config
def org_spec() -> dict[str, Any]:
    units, index = [], 0
    for position, (unit_id, name, prefix, size) in enumerate(UNITS):
        members = []
        for member in range(size):
            roles = ["clerk"] if member == 0 else ["leader"] if member == 1 else []
            members.append({"email": f"{unit_id}-{member:02d}@bench.gov", "name": person_name(index), "roles": roles})
            index += 1
        if unit_id == "finance":
            members.append({"email": PERSON, "name": "张科员"})
        unit = {"id": unit_id, "name": name, "doc_prefix": prefix, "members": members}
        if position:
            unit["parent"] = "county-office"
        units.append(unit)
    return {"units": units}


def write_config(folder: Path, database: str, relay_port: int, token: str) -> tuple[Path, Config, int, int]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "org.yaml").write_text(yaml.safe_dump(org_spec(), allow_unicode=True), encoding="utf-8")
    smtp_port, web_port = free_port(), free_port()
    data = {
        "domain": DOMAIN, "database": database, "secret_key": "bench-" + secrets.token_hex(16), "org": "org.yaml",
        "language": "zh",
        "smtp": {"listen": f"127.0.0.1:{smtp_port}"},
        "web": {"listen": f"127.0.0.1:{web_port}", "base_url": f"http://127.0.0.1:{web_port}"},
        "relay": {"url": f"smtp://127.0.0.1:{relay_port}?starttls=off"},
        "api": {"tokens": [token]},
        "worker": {"scheduler_interval": 3600},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path, build_config(data, source=str(path), base_dir=folder), smtp_port, web_port


# --------------------------------------------------------------------------- the fill
def body_text(rng: random.Random, index: int) -> str:
    """300–400 Chinese characters (about 1 KB of UTF-8), varied per document."""
    wanted = rng.randint(300, 400)
    parts = ["各有关单位：\n\n", f"（第{index}号）"]
    length = sum(map(len, parts))
    while length < wanted:
        sentence = SENTENCES[rng.randrange(len(SENTENCES))]
        parts.append(sentence)
        length += len(sentence)
    return "".join(parts)[:wanted] + "\n\n特此通知。\n"


@dataclass
class FillStats:
    documents: int = 0
    versions: int = 0
    recipients: int = 0
    attachments: int = 0
    attachment_bytes: int = 0
    body_bytes: int = 0
    events: int = 0
    outbox: int = 0
    seconds: float = 0.0
    database_bytes: int = 0


async def fill(config: Config, args: argparse.Namespace, now: datetime) -> tuple[str, FillStats]:
    """Migrate, import the org, insert the documents and P's events; P's feed URL."""
    stats = FillStats()
    started = time.perf_counter()
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
        unit_ids = [unit[0] for unit in UNITS]
        members = {unit_id: directory.members(unit_id, recursive=False) for unit_id in unit_ids}
        clerks = {unit_id: members[unit_id][0] for unit_id in unit_ids}
        prefixes = {unit[0]: unit[2] for unit in UNITS}
        rng = random.Random(20261127)
        counters: dict[tuple[str, int], int] = {}
        first = now - timedelta(days=3 * 365)
        span = (now - timedelta(days=1) - first).total_seconds()
        version_id = recipient_id = attachment_id = outbox_id = 0
        for begin in range(0, args.documents, BATCH):
            documents, versions, recipients, attachments, bodies, outbox = [], [], [], [], [], []
            for doc_id in range(begin + 1, min(begin + BATCH, args.documents) + 1):
                unit_id = unit_ids[rng.randrange(len(unit_ids))] if rng.random() < 0.7 else "county-office"
                created = first + timedelta(seconds=span * doc_id / args.documents)
                issued = created + timedelta(minutes=rng.randint(1, 600))
                # A settled database: the receipt reminders and the sender's digest went out two days
                # after issue (else the scheduler's first round would send them all at start).
                digest = issued + timedelta(days=2) if issued + timedelta(days=3) < now else None
                year = issued.astimezone(config.zone).year
                serial = counters[(unit_id, year)] = counters.get((unit_id, year), 0) + 1
                doc_type = DOCUMENT_TYPES[rng.randrange(len(DOCUMENT_TYPES))]
                addressed = rng.sample([u for u in unit_ids if u != unit_id], rng.randint(1, 3))
                documents.append({
                    "id": doc_id, "unit_id": unit_id, "sender": clerks[unit_id].email, "type": doc_type,
                    "title": f"关于{TOPICS[rng.randrange(len(TOPICS))]}的{doc_type}", "status": "issued",
                    "public": rng.random() < 0.02, "number": f"{prefixes[unit_id]}〔{year}〕{serial}号",
                    "year": year, "serial": serial, "addressed_to": "\n".join(addressed), "inbound_id": None,
                    "created_at": created, "issued_at": issued, "silent_digest_at": digest})
                version_id += 1
                body = body_text(rng, doc_id)
                stats.body_bytes += len(body.encode())
                versions.append({"id": version_id, "document_id": doc_id, "version": 1, "created_at": created,
                                 "body": body, "body_html": None})
                if rng.random() < 0.01:
                    for number in range(rng.randint(1, 2)):
                        data = rng.randbytes(rng.randint(2048, 8192))
                        attachment_id += 1
                        stats.attachment_bytes += len(data)
                        attachments.append({
                            "id": attachment_id, "version_id": version_id, "filename": f"附件{number + 1}.pdf",
                            "content_type": "application/pdf", "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(), "data": data})
                pool = [p for unit in addressed for p in members[unit] if p.email != clerks[unit_id].email]
                chosen = rng.sample(pool, min(len(pool), rng.randint(3, 10)))
                seen: set[str] = set()
                if args.outbox:
                    outbox_body = doc_id  # one shared body per document
                    bodies.append({"id": outbox_body, "created_at": issued,
                                   "data": f"--=_inkless_{doc_id:012d}--\r\n".encode()})
                for person in chosen:
                    if person.email in seen:
                        continue
                    seen.add(person.email)
                    recipient_id += 1
                    sent = issued + timedelta(seconds=rng.randint(1, 30))
                    read = sent + timedelta(minutes=rng.randint(1, 600)) if rng.random() < 0.8 else None
                    acked = read + timedelta(minutes=rng.randint(0, 60)) if read and rng.random() < 0.75 else None
                    recipients.append({
                        "id": recipient_id, "document_id": doc_id, "person_id": person.id, "email": person.email,
                        "name": person.name, "sent_at": sent, "delivered_at": sent if rng.random() < 0.5 else None,
                        "read_at": read, "acknowledged_at": acked, "failed": False, "reason": None,
                        "comment": "已阅" if acked and rng.random() < 0.2 else None,
                        "ack_reminded_at": digest if digest and (acked is None or acked > digest) else None})
                    if args.outbox:
                        outbox_id += 1
                        outbox.append({
                            "id": outbox_id, "created_at": issued, "kind": "document",
                            "mail_from": f"bounce-{secrets.token_hex(12)}@{DOMAIN}", "rcpt": person.email,
                            "headers": (f"From: {unit_id}@{DOMAIN}\r\nTo: {person.email}\r\nSubject: "
                                        f"=?utf-8?b?{secrets.token_hex(60)}?=\r\nMessage-ID: <{secrets.token_hex(20)}"
                                        f"@{DOMAIN}>\r\n").encode() + body.encode()[:400],
                            "body_id": outbox_body, "recipient_id": recipient_id, "status": "sent",
                            "attempts": 1, "next_attempt_at": issued, "claimed_by": "bench", "claimed_at": issued,
                            "sent_at": sent, "last_error": None})
            async with sessions() as session, session.begin():
                await session.execute(insert(Document.__table__), documents)
                await session.execute(insert(DocumentVersion.__table__), versions)
                await session.execute(insert(Recipient.__table__), recipients)
                if attachments:
                    await session.execute(insert(Attachment.__table__), attachments)
                if bodies:
                    await session.execute(insert(OutboxBody.__table__), bodies)
                    await session.execute(insert(OutboxMessage.__table__), outbox)
            stats.documents += len(documents)
            stats.versions += len(versions)
            stats.recipients += len(recipients)
            stats.attachments += len(attachments)
            stats.outbox += len(outbox)
            if (begin // BATCH) % 10 == 9 or begin + BATCH >= args.documents:
                print(f"  filled {stats.documents:,} documents, {stats.recipients:,} recipients"
                      f" ({time.perf_counter() - started:.0f}s)", flush=True)
        async with sessions() as session, session.begin():
            await session.execute(insert(DocumentCounter.__table__),
                                  [{"unit_id": u, "year": y, "last": last} for (u, y), last in counters.items()])
            if engine.dialect.name == "postgresql":
                for table in ("documents", "document_versions", "recipients", "attachments", "outbox",
                              "outbox_bodies"):
                    await session.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false)"
                        f" FROM {table}"))

        # P's meetings, as bench/feed.py makes them (stored VEVENT text), and P's feed URL.
        person, host = directory.person(PERSON), directory.person("county-office-01@bench.gov")
        assert person is not None and host is not None
        for begin in range(0, args.events, 1000):
            async with sessions() as session, session.begin():
                batch = []
                for index in range(begin, min(begin + 1000, args.events)):
                    start = (now - timedelta(days=59) + timedelta(days=359) * index / max(args.events, 1)) \
                        .replace(second=0, microsecond=0)
                    event = Event(
                        uid=f"bench-{index:05d}-{secrets.token_hex(4)}@{DOMAIN}", kind="meeting",
                        title=f"第{index}次协调会", description=SENTENCES[index % len(SENTENCES)] * 3,
                        location=PLACES[index % len(PLACES)], start=start,
                        end=start + timedelta(minutes=30 * (2 + index % 5)), all_day=False,
                        organizer=host.email, organizer_name=host.name, unit_id="county-office", private=False,
                        sequence=0, status="CONFIRMED", source="api", created_at=now, updated_at=now,
                        digest_at=now)
                    render(event, office)
                    batch.append(event)
                session.add_all(batch)
                await session.flush()
                session.add_all([Attendee(event_id=event.id, person_id=person.id, email=person.email,
                                          name=person.name, partstat="NEEDS-ACTION") for event in batch])
                stats.events += len(batch)
        async with sessions() as session, session.begin():
            url = await feed_url(session, config, person_id=person.id, now=now)
        async with sessions() as session:
            if engine.dialect.name == "postgresql":
                stats.database_bytes = int(await session.scalar(text("SELECT pg_database_size(current_database())")))
        if config.sqlite_path is not None:
            with contextlib.suppress(OSError):
                stats.database_bytes = sum(p.stat().st_size for p in config.sqlite_path.parent.glob("inkless.db*"))
        stats.seconds = time.perf_counter() - started
        return url, stats
    finally:
        await engine.dispose()


async def get(client: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> bytes:
    async with client.get(url, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        return body


def new_document(index: int, rng: random.Random) -> tuple[str, str, bytes]:
    unit_id = UNITS[1 + index % (len(UNITS) - 1)][0]
    target = UNITS[1 + (index + 3) % (len(UNITS) - 1)][0]
    sender = f"{unit_id}-00@bench.gov"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"{target}@{DOMAIN}"
    message["Subject"] = f"[通知] 关于{TOPICS[index % len(TOPICS)]}的通知（新{index}）"
    message["Message-ID"] = f"<bench.memory.{index}.{secrets.token_hex(6)}@bench.gov>"
    message.set_content(body_text(rng, 1_000_000 + index))
    if index % 20 == 0:
        message.add_attachment(rng.randbytes(20_000), maintype="application", subtype="pdf", filename="附件.pdf")
    return sender, f"{target}@{DOMAIN}", message.as_bytes(policy=SMTP_POLICY)


@dataclass
class Phase:
    name: str
    seconds: float
    detail: str
    max_rss: int = 0
    end_rss: int = 0
    end_hwm: int = 0


@dataclass
class Served:
    backend: str
    baseline_rss: int = 0
    baseline_hwm: int = 0
    start_seconds: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    peak: int = 0
    notes: list[str] = field(default_factory=list)


async def drive(args: argparse.Namespace, client: aiohttp.ClientSession, base: str, token: str, feed: str,
                smtp_port: int, sampler: Sampler, probe_db: Any, served: Served) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    details: dict[str, str] = {}

    async with sampler.phase("idle after start"):
        await asyncio.sleep(args.idle)
        details["idle after start"] = f"{args.idle:.0f} s, no requests"

    for run in range(1, args.passes + 1):
        name = "API list pages" + (f" (pass {run})" if args.passes > 1 else "")
        async with sampler.phase(name):
            url: str | None = f"{base}/api/v1/documents?limit=1000"
            pages = items = size = 0
            ids: list[int] = []
            while url:
                body = await get(client, url, auth)
                size += len(body)
                data = json.loads(body)
                pages += 1
                items += len(data["items"])
                ids += [item["id"] for item in data["items"]]
                url = data["next"]
            if items != args.documents:
                raise RuntimeError(f"the API listed {items} documents, {args.documents} stored")
            details[name] = f"{pages} pages, {items:,} documents, {size / 1e6:,.0f} MB of JSON"

    async with sampler.phase("random documents"):
        rng = random.Random(7)
        picks = [rng.randint(1, args.documents) for _ in range(args.fetches)]
        gate = asyncio.Semaphore(8)
        size = 0

        async def one(doc_id: int) -> None:
            nonlocal size
            async with gate:
                size += len(await get(client, f"{base}/api/v1/documents/{doc_id}", auth))

        await asyncio.gather(*(one(doc_id) for doc_id in picks))
        details["random documents"] = f"{len(picks):,} GETs, 8 at a time, {size / 1e6:.1f} MB"

    async with sampler.phase("calendar feed"):
        sizes = [len(await get(client, feed)) for _ in range(3)]
        details["calendar feed"] = f"3 GETs of P's feed ({args.events:,} events, {sizes[0] / 1e6:.1f} MB)"

    async with sampler.phase("/public"):
        public = len(await get(client, f"{base}/public"))
        atom = len(await get(client, f"{base}/public/feed.atom"))
        details["/public"] = f"/public {public / 1e3:,.0f} KB, /public/feed.atom {atom / 1e3:,.0f} KB"

    async with sampler.phase("/metrics"):
        for _ in range(5):
            await get(client, f"{base}/metrics")
        details["/metrics"] = "5 GETs"

    async with sampler.phase("new documents by SMTP"):
        rng = random.Random(11)
        before = int(await probe_db("SELECT count(*) FROM documents"))
        queue = list(range(args.mail))

        async def session_worker() -> None:
            while queue:
                index = queue.pop()
                sender, rcpt, data = new_document(index, rng)
                await aiosmtplib.send(data, sender=sender, recipients=[rcpt], hostname="127.0.0.1", port=smtp_port,
                                      start_tls=False, timeout=60)

        began = time.perf_counter()
        await asyncio.gather(*(session_worker() for _ in range(4)))
        accepted = time.perf_counter() - began
        deadline = time.monotonic() + 300
        while True:
            waiting = int(await probe_db("SELECT count(*) FROM inbound WHERE status IN ('new', 'processing')"))
            queued = int(await probe_db("SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')"))
            if not waiting and not queued:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} inbound and {queued} outbound still pending")
            await asyncio.sleep(0.2)
        issued = int(await probe_db("SELECT count(*) FROM documents")) - before
        copies = int(await probe_db(f"SELECT count(*) FROM recipients WHERE document_id > {args.documents}"))
        if issued != args.mail:
            states = await probe_db("SELECT status, count(*) FROM inbound GROUP BY status", all_rows=True)
            raise RuntimeError(f"{issued} of {args.mail} new documents issued; inbound {states}")
        details["new documents by SMTP"] = (f"{args.mail} documents accepted in {accepted:.1f} s (4 sessions), all"
                                            f" issued and their {copies:,} copies delivered"
                                            f" {time.perf_counter() - began:.1f} s after the first")

    async with sampler.phase("idle at the end"):
        await asyncio.sleep(args.idle)
        details["idle at the end"] = f"{args.idle:.0f} s"

    for name, began, ended in sampler.phases:
        max_rss, end_rss, end_hwm = sampler.summary(began, ended)
        served.phases.append(Phase(name, ended - began, details.get(name, ""), max_rss, end_rss, end_hwm))


async def run(args: argparse.Namespace) -> tuple[str, list[ResultRow]]:
    backend = "PostgreSQL" if args.postgres else "SQLite"
    served = Served(backend)
    procs = Processes()
    folder = Path(tempfile.mkdtemp(prefix="inkless-bench-memory-"))
    pg_names: list[str] = []
    token = "bench-" + secrets.token_urlsafe(24)
    load_start = loadavg()
    source = source_state()
    now = datetime.now(timezone.utc)
    stats = FillStats()
    try:
        port = free_port()
        sink_cmd = ["smtp-sink", f"127.0.0.1:{port}", "1000"]
        if os.geteuid() == 0:
            sink_cmd[1:1] = ["-u", "nobody"]
        procs.start("smtp-sink", sink_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        async def database(name: str) -> tuple[str, str | None]:
            if not args.postgres:
                return f"sqlite+aiosqlite:///{folder / name / 'inkless.db'}", None
            pg_name = f"inkless_bench_{secrets.token_hex(4)}"
            await pg_admin(args.postgres, f'CREATE DATABASE "{pg_name}"')
            pg_names.append(pg_name)
            dsn, url = pg_urls(args.postgres, pg_name)
            return url, dsn

        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            # 1. Baseline: idle on an empty database.
            url, _ = await database("empty")
            config_path, _, _, web_port = write_config(folder / "empty", url, port, token)
            log = folder / "empty" / "serve.log"
            with log.open("wb") as out:
                proc = procs.start("inkless serve (empty)", [str(REPO / ".venv" / "bin" / "inkless"), "serve", "-c",
                                                             str(config_path)], stdout=out, stderr=subprocess.STDOUT,
                                   cwd=str(folder / "empty"))
            await wait_healthy(client, f"http://127.0.0.1:{web_port}", proc, log)
            await asyncio.sleep(args.idle)
            served.baseline_rss, served.baseline_hwm = status_kib(proc.pid)
            served.notes.append(f"baseline `inkless serve` exit code after SIGTERM: {procs.stop(proc)}")
            print(f"baseline (empty database, idle): VmRSS {mb(served.baseline_rss):.1f} MB,"
                  f" VmHWM {mb(served.baseline_hwm):.1f} MB", flush=True)

            # 2. Fill.
            url, dsn = await database("full")
            config_path, config, smtp_port, web_port = write_config(folder / "full", url, port, token)
            feed, stats = await fill(config, args, now)
            print(f"fill: {stats.documents:,} documents in {stats.seconds:.0f}s,"
                  f" database {stats.database_bytes / 1e6:,.0f} MB", flush=True)

            if dsn is not None:
                pg = await asyncpg.connect(dsn)

                async def probe_db(sql: str, all_rows: bool = False) -> Any:
                    rows = await pg.fetch(sql)
                    return [tuple(r) for r in rows] if all_rows else rows[0][0]
            else:
                import sqlite3
                sqlite_path = folder / "full" / "inkless.db"

                async def probe_db(sql: str, all_rows: bool = False) -> Any:
                    db = sqlite3.connect(str(sqlite_path), timeout=30)
                    try:
                        rows = db.execute(sql).fetchall()
                    finally:
                        db.close()
                    return rows if all_rows else rows[0][0]

            # 3. Serve it and drive it.
            log = folder / "full" / "serve.log"
            began = time.perf_counter()
            with log.open("wb") as out:
                proc = procs.start("inkless serve", [str(REPO / ".venv" / "bin" / "inkless"), "serve", "-c",
                                                     str(config_path)], stdout=out, stderr=subprocess.STDOUT,
                                   cwd=str(folder / "full"))
            sampler = Sampler(proc.pid)
            try:
                base = f"http://127.0.0.1:{web_port}"
                await wait_healthy(client, base, proc, log)
                served.start_seconds = time.perf_counter() - began
                await drive(args, client, base, token, feed, smtp_port, sampler, probe_db, served)
            finally:
                sampler.stop()
                if dsn is not None:
                    await pg.close()
            served.peak = sampler.peak
            served.notes.append(f"`inkless serve` exit code after SIGTERM: {procs.stop(proc)}")
            errors = [line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line
                      or " ERROR " in line]
            if errors:
                served.notes.append(f"serve.log has {len(errors)} error lines, e.g. {errors[0][:200]}")
    finally:
        procs.stop_all()
        for pg_name in pg_names:
            try:
                await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            except Exception as exc:
                print(f"warning: could not drop database {pg_name}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return report(args, served, stats, load_start, source), result_rows(args, served, source)


def report(args: argparse.Namespace, served: Served, stats: FillStats, load_start: str, source: str) -> str:
    peak = mb(served.peak)
    lines = [
        f"# Memory ({served.backend}, {args.documents:,} documents)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} · {platform.node()} · {os.cpu_count()} CPUs · Python"
        f" {platform.python_version()} · load average at start {load_start}, at end {loadavg()}",
        f"Measured code: {source}",
        "",
        "| measurement | value | target |",
        "| --- | ---: | --- |",
        f"| peak RSS (VmHWM) of `inkless serve` over the whole drive | **{peak:,.1f} MB** |"
        f" ≤ {TARGET_MB:.0f} MB: {'met' if peak <= TARGET_MB else 'NOT met'} |",
        f"| baseline: idle `inkless serve` on an empty database, VmRSS / VmHWM | {mb(served.baseline_rss):,.1f} /"
        f" {mb(served.baseline_hwm):,.1f} MB | |",
        f"| peak above the baseline's VmHWM | {peak - mb(served.baseline_hwm):+,.1f} MB | |",
        f"| start on the full database until /healthz answers | {served.start_seconds:.1f} s | |",
        "",
        "RSS per phase, in order (VmRSS sampled every 0.2 s; VmHWM is the kernel's high-water mark so far):",
        "",
        "| phase | seconds | max VmRSS MB | VmRSS at end MB | VmHWM at end MB | what |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for phase in served.phases:
        lines.append(f"| {phase.name} | {phase.seconds:.1f} | {mb(phase.max_rss):,.1f} | {mb(phase.end_rss):,.1f} |"
                     f" {mb(phase.end_hwm):,.1f} | {phase.detail} |")
    lines += [
        "",
        f"Database: {stats.documents:,} issued documents, {stats.versions:,} versions"
        f" ({stats.body_bytes / 1e6:,.0f} MB of body text), {stats.recipients:,} recipients (sent_at set),"
        f" {stats.attachments:,} attachments ({stats.attachment_bytes / 1e6:.1f} MB), {stats.events:,} events"
        + (f", {stats.outbox:,} sent outbox rows" if stats.outbox else ", no outbox history (--outbox adds it)")
        + f"; {stats.database_bytes / 1e6:,.0f} MB on disk; filled in {stats.seconds:.0f} s.",
        "",
        *[f"- {note}" for note in served.notes],
        "",
    ]
    return "\n".join(lines)


def result_rows(args: argparse.Namespace, served: Served, source: str) -> list[ResultRow]:
    """The report's peak against the idle baseline's VmHWM, as a row for bench/summary.py."""
    peak, baseline = mb(served.peak), mb(served.baseline_hwm)
    return [row("memory", f"{served.backend}, {args.documents:,} documents", "peak RSS (VmHWM) while serving", peak,
                "MB", "idle serve on an empty database (VmHWM)", baseline, peak / baseline, f"≤ {TARGET_MB:.0f} MB",
                peak <= TARGET_MB, source)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000, help="issued documents stored (default 100000)")
    parser.add_argument("--events", type=int, default=1000, help="meetings in P's calendar feed (default 1000)")
    parser.add_argument("--outbox", action="store_true", help="also store the documents' sent outbox rows")
    parser.add_argument("--fetches", type=int, default=1000, help="random GET /api/v1/documents/{id} (default 1000)")
    parser.add_argument("--mail", type=int, default=200, help="new documents sent over SMTP (default 200)")
    parser.add_argument("--passes", type=int, default=1, help="passes over all API list pages (default 1)")
    parser.add_argument("--idle", type=float, default=3.0, help="idle seconds at start and end (default 3)")
    parser.add_argument("--postgres", help="postgresql+asyncpg://user@host:port/anydb (scratch databases are made)")
    parser.add_argument("--results", help="markdown results file (default bench/results/memory.md, memory-pg.md)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (serve logs, SQLite)")
    args = parser.parse_args()
    if shutil.which("smtp-sink") is None:
        raise SystemExit("smtp-sink not found: install Postfix (apt-get install postfix, 'No configuration')")

    default = "memory-pg.md" if args.postgres else "memory.md"
    return run_and_report(run(args), Path(args.results) if args.results else HERE / "results" / default)


if __name__ == "__main__":
    sys.exit(main())
