"""The `inkless` command line. Every user error prints one line and exits with status 2."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import secrets
import sys
import unicodedata
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from functools import wraps
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import func, select, text

from inkless.addresses import fold_address
from inkless.bridge.app import run_service, safe_url
from inkless.bridge.imap import CONNECTION_ERRORS, probe_mailbox
from inkless.calendar import feeds
from inkless.calendar.views import event_views
from inkless.chat import links
from inkless.tasks.views import task_views
from inkless.bridge.relay import MaildirRelay, RelayUnavailable, build_relay
from inkless.clock import Clock
from inkless.config import Config, config_path, load_config
from inkless import logs
from inkless.errors import InklessError, Quarantine
from inkless.handlers.verdict import read_reply
from inkless.org import load_org
from inkless.storage import migrate, queries
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.models import (
    ApiToken,
    Approval,
    AuditEntry,
    Document,
    Event,
    Evidence,
    InboundMessage,
    Membership,
    Person,
    Recipient,
    Task,
    Unit,
)
from inkless.storage.org import import_org
from inkless.web.app import hash_token
from inkless.web.api_auth import OPERATOR

T = TypeVar("T")
config_option = click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False), default=None,
                             help="Config file (default ./config.yaml or $INKLESS_CONFIG).")


def fail(message: str) -> None:
    click.echo(f"inkless: {message}", err=True)
    sys.exit(2)


def user_errors(command: Callable[..., T]) -> Callable[..., T | None]:
    """Turn InklessError into one line on stderr and exit status 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        try:
            return command(*args, **kwargs)
        except InklessError as exc:
            fail(str(exc))
            return None

    return wrapper


def run_db(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run work(sessions) against the migrated database, then dispose of the engine."""

    async def main() -> T:
        engine = create_engine(config)
        try:
            try:
                await migrate.upgrade(engine, config.sqlite_path)
            except Exception as exc:
                raise InklessError(f"database: cannot open {safe_url(config.database)}: {type(exc).__name__}: {exc}") \
                    from None
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


@click.group()
@click.version_option(package_name="inkless")
def main() -> None:
    """Inkless: documents, sign-off, receipts and schedules over mail, calendars and chat."""
    logs.configure()


@main.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@user_errors
def init(config_file: str | None, force: bool) -> None:
    """Write a starter config.yaml and org.example.yaml, and create the database."""
    path = config_path(config_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    starter = resources.files("inkless.starter")
    org_path = path.parent / "org.example.yaml"
    for target, name in ((path, "config.yaml"), (org_path, "org.example.yaml")):
        if target.exists() and not force:
            click.echo(f"kept {target} (exists; --force overwrites)")
            continue
        content = starter.joinpath(name).read_text(encoding="utf-8")
        if name == "config.yaml":
            content = content.replace("secret_key: change-me ", f"secret_key: {secrets.token_urlsafe(24)}", 1)
        target.write_text(content, encoding="utf-8")
        click.echo(f"wrote {target}")
    config = load_config(path)
    run_db(config, lambda sessions: _import_configured_org(config, sessions))
    click.echo(f"database ready: {safe_url(config.database)}")


async def _import_configured_org(config: Config, sessions: Any) -> None:
    if config.org_path is not None:
        async with sessions() as session, session.begin():
            await import_org(session, load_org(config.org_path), now=Clock().now())


@main.command()
@config_option
@user_errors
def serve(config_file: str | None) -> None:
    """Run SMTP ingress, workers and the web server until Ctrl-C or SIGTERM."""
    config = load_config(config_file)
    if config.org_path is not None:
        load_org(config.org_path)  # fail fast with the file's own error
    path = config.maildir_path
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    run_service(config)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
@user_errors
def db_upgrade(config_file: str | None) -> None:
    """Bring the database to the latest migration."""
    config = load_config(config_file)

    async def nothing(_sessions: Any) -> None:
        return None

    run_db(config, nothing)
    click.echo(f"database at the latest migration: {safe_url(config.database)}")


@main.group()
def org() -> None:
    """The organisation: units, people, roles."""


@org.command("import")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@user_errors
def org_import(config_file: str | None, file: str) -> None:
    """Import an org file (idempotent: updates, adds, removes; never duplicates)."""
    config = load_config(config_file)
    spec = load_org(Path(file))

    async def work(sessions: Any) -> dict[str, int]:
        async with sessions() as session, session.begin():
            return await import_org(session, spec, now=Clock().now(), actor="cli")

    counts = run_db(config, work)
    click.echo("imported: " + ", ".join(f"{key} {value}" for key, value in counts.items()))


@main.group("api-token")
def api_token() -> None:
    """Bearer tokens for /api/v1: each works for one org member (its owner), to read or to write."""


@api_token.command("create")
@config_option
@click.argument("name")
@click.option("--owner", default=None, metavar="EMAIL",
              help="The org member the token works for: it sees what they may see and acts only as them "
                   "(an admin owner: everything, as anyone). Without it the token is the operator's, like "
                   "api.tokens: it sees everything and acts for anyone.")
@click.option("--scope", type=click.Choice(["read", "write"]), default=None,
              help="read: GET only; write: also create and change (messages, events, tasks). "
                   "Default: read with --owner.")
@user_errors
def api_token_create(config_file: str | None, name: str, owner: str | None, scope: str | None) -> None:
    """Create a token; it is printed once, alone on the last line."""
    config = load_config(config_file)
    if owner is None and scope is not None:
        raise InklessError("--scope needs --owner: a token without an owner is the operator's")
    token = secrets.token_urlsafe(32)

    async def work(sessions: Any) -> str | None:
        async with sessions() as session, session.begin():
            email = None if owner is None else str(
                await session.scalar(select(Person.email).where(Person.id == await member_id(session, owner))))
            session.add(ApiToken(name=name, token_hash=hash_token(token), created_at=Clock().now(), owner=email,
                                 scope=OPERATOR if email is None else scope or "read"))
            return email

    email = run_db(config, work)
    if email is None:
        click.echo(f"created operator API token '{name}': it sees everything and acts for anyone "
                   "(store it now; it is not shown again):")
    else:
        click.echo(f"created API token '{name}' for {email}, scope {scope or 'read'} "
                   "(store it now; it is not shown again):")
    click.echo(token)


@api_token.command("list")
@config_option
@user_errors
def api_token_list(config_file: str | None) -> None:
    """The tokens made here (never their secrets): id, name, owner, scope, created, revoked."""
    config = load_config(config_file)

    async def work(sessions: Any) -> list[ApiToken]:
        async with sessions() as session:
            return list((await session.scalars(select(ApiToken).order_by(ApiToken.id))).all())

    for row in run_db(config, work):
        # Tokens from before tokens had owners are refused by the API: say so.
        owner = row.owner or ("(operator)" if row.scope == OPERATOR else "(no owner: refused, make a new one)")
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.id}\t{row.name}\t{owner}\t{row.scope or '-'}\t{row.created_at:%Y-%m-%d %H:%M}\t{revoked}")


@api_token.command("revoke")
@config_option
@click.argument("token_id", type=int, metavar="ID")
@user_errors
def api_token_revoke(config_file: str | None, token_id: int) -> None:
    """Revoke a token (its id from `inkless api-token list`): it stops working at once."""
    config = load_config(config_file)

    async def work(sessions: Any) -> ApiToken:
        async with sessions() as session, session.begin():
            row: ApiToken | None = await session.get(ApiToken, token_id)
            if row is None:
                raise InklessError(f"no API token {token_id}")
            if row.revoked_at is None:
                row.revoked_at = Clock().now()
            return row

    row = run_db(config, work)
    click.echo(f"revoked API token {row.id} '{row.name}'")


@main.command("feed-url")
@config_option
@click.argument("email", required=False)
@click.option("--unit", "unit_id", default=None, help="A unit's feed instead of a person's.")
@click.option("--rotate", is_flag=True, help="Replace the URL: the old one stops working.")
@click.option("--revoke", is_flag=True, help="Stop the URL working, without a new one.")
@user_errors
def feed_url(config_file: str | None, email: str | None, unit_id: str | None, rotate: bool, revoke: bool) -> None:
    """Print the calendar feed URL of a person (or a unit), alone on the last line."""
    config = load_config(config_file)
    if (email is None) == (unit_id is None):
        raise InklessError("give either EMAIL or --unit ID")

    async def work(sessions: Any) -> str | int:
        async with sessions() as session, session.begin():
            person_id = None
            if email is not None:
                person_id = await member_id(session, email)
            elif await session.get(Unit, unit_id) is None:
                raise InklessError(f"no unit {unit_id}")
            now = Clock().now()
            if revoke:
                return await feeds.revoke(session, person_id=person_id, unit_id=unit_id, now=now)
            return await feeds.feed_url(session, config, person_id=person_id, unit_id=unit_id, rotate=rotate, now=now)

    result = run_db(config, work)
    if revoke:
        click.echo(f"revoked {result} feed URL(s) of {email or unit_id}")
        return
    if rotate:
        click.echo(f"new feed URL of {email or unit_id} (the old one no longer works):")
    click.echo(str(result))


@main.command("link-code")
@config_option
@click.argument("email")
@user_errors
def link_code(config_file: str | None, email: str) -> None:
    """A one-time code that links a chat to this person (`/start CODE` to the bot); alone on the last line."""
    config = load_config(config_file)

    async def work(sessions: Any) -> str:
        async with sessions() as session, session.begin():
            person_id = await member_id(session, email)
            return await links.new_code(session, person_id, now=Clock().now(),
                                        minutes=config.telegram.link_code_minutes)

    code = run_db(config, work)
    click.echo(f"link code for {fold_address(email)} (valid {config.telegram.link_code_minutes:g} minutes, "
               "once); send the bot: /start CODE")
    click.echo(code)


async def member_id(session: Any, email: str) -> int:
    """The person id of an org member, or a one-line error naming the address."""
    person_id = await session.scalar(select(Person.id).where(Person.email == fold_address(email)))
    member = person_id is not None and await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.person_id == person_id))
    if not member:
        raise InklessError(f"{email} is not a member of the organisation")
    return int(person_id)


@main.group()
def task() -> None:
    """Supervision tasks (督办)."""


@task.command("list")
@config_option
@click.option("--unit", default=None, help="Only this unit's tasks.")
@click.option("--all", "everything", is_flag=True, help="Done tasks too.")
@user_errors
def task_list(config_file: str | None, unit: str | None, everything: bool) -> None:
    """Tasks, overdue first, then by deadline: unit, deadline, status, latest progress."""
    config = load_config(config_file)
    today = Clock().now().astimezone(config.zone).date()

    async def work(sessions: Any) -> list[dict[str, Any]]:
        async with sessions() as session:
            query = select(Task).order_by(Task.deadline, Task.id)
            if unit:
                query = query.where(Task.unit_id == unit)
            if not everything:
                query = query.where(Task.status != "done")
            return await task_views(session, list((await session.scalars(query)).all()), zone=config.zone,
                                    today=today)

    views = sorted(run_db(config, work), key=lambda view: (not view["overdue"], view["deadline"], view["id"]))
    table = [("ID", "UNIT", "DEADLINE", "STATUS", "OWNER", "TITLE", "LATEST")]
    for view in views:
        latest = next((e["text"] for e in reversed(view["progress"]) if e["kind"] == "progress"), "-")
        status = "overdue" if view["overdue"] else view["status"]
        table.append((str(view["id"]), view["unit"], view["deadline"], status, view["owner"], view["title"],
                      latest.replace("\n", " ")[:40] or "-"))
    click.echo(format_table(table))


@main.group()
def event() -> None:
    """Meetings and schedule entries."""


@event.command("list")
@config_option
@click.option("--limit", default=50, show_default=True)
@user_errors
def event_list(config_file: str | None, limit: int) -> None:
    """Newest events with their time, status and how many attendees answered."""
    config = load_config(config_file)

    async def work(sessions: Any) -> list[dict[str, Any]]:
        async with sessions() as session:
            found = (await session.scalars(select(Event).order_by(Event.id.desc()).limit(limit))).all()
            return await event_views(session, list(found), config.zone)

    table = [("ID", "KIND", "START", "STATUS", "ANSWERED", "TITLE")]
    for view in run_db(config, work):
        answered = sum(1 for a in view["attendees"] if a["partstat"] != "NEEDS-ACTION")
        table.append((str(view["id"]), view["kind"], view["start"][:16].replace("T", " "), view["status"],
                      f"{answered}/{len(view['attendees'])}", view["title"]))
    click.echo(format_table(table))


@event.command("show")
@config_option
@click.argument("event_id", type=int)
@user_errors
def event_show(config_file: str | None, event_id: int) -> None:
    """An event and its attendance list: who accepted, declined, is tentative or has not answered."""
    config = load_config(config_file)

    async def work(sessions: Any) -> dict[str, Any] | None:
        async with sessions() as session:
            found = await session.get(Event, event_id)
            return (await event_views(session, [found], config.zone))[0] if found else None

    view = run_db(config, work)
    if view is None:
        raise InklessError(f"no event {event_id}")

    def when(value: str | None) -> str:
        return value[:16].replace("T", " ") if value else "-"

    click.echo(f"{view['title']}  ({view['kind']}, {view['status']}, sequence {view['sequence']})")
    click.echo(f"{when(view['start'])} – {when(view['end'])} · {view['location'] or '-'} · "
               f"organizer {view['organizer']} · uid {view['uid']}")
    table = [("ATTENDEE", "ANSWER", "ANSWERED", "VIA", "COMMENT")]
    for a in view["attendees"]:
        table.append((a["email"], a["partstat"], when(a["responded_at"]), a["channel"] or "-",
                      (a["comment"] or "-").replace("\n", " ")))
    click.echo(format_table(table))
    counts = {state: sum(1 for a in view["attendees"] if a["partstat"] == state)
              for state in ("ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION")}
    click.echo(f"{len(view['attendees'])} attendees: {counts['ACCEPTED']} accepted, {counts['DECLINED']} declined, "
               f"{counts['TENTATIVE']} tentative, {counts['NEEDS-ACTION']} not answered")


@main.group()
def doc() -> None:
    """Documents and their tracking tables."""


@doc.command("list")
@config_option
@click.option("--limit", default=50, show_default=True)
@user_errors
def doc_list(config_file: str | None, limit: int) -> None:
    """The newest documents with their receipt counts."""
    config = load_config(config_file)

    async def work(sessions: Any) -> list[tuple[Any, ...]]:
        async with sessions() as session:
            counts = (select(Recipient.document_id, func.count().label("total"),
                             func.count(Recipient.sent_at).label("sent"),
                             func.count(Recipient.read_at).label("read"))
                      .group_by(Recipient.document_id).subquery())
            rows = await session.execute(
                select(Document.id, Document.number, Document.status, Document.unit_id, Document.title,
                       counts.c.total, counts.c.sent, counts.c.read)
                .outerjoin(counts, counts.c.document_id == Document.id)
                .order_by(Document.id.desc()).limit(limit))
            return [tuple(row) for row in rows.all()]

    rows = run_db(config, work)
    table = [("ID", "NUMBER", "STATUS", "UNIT", "SENT", "READ", "TITLE")]
    for doc_id, number, status, unit, title, total, sent, read in rows:
        table.append((str(doc_id), number or "-", status, unit, f"{sent or 0}/{total or 0}",
                      f"{read or 0}/{total or 0}", title))
    click.echo(format_table(table))


@doc.command("show")
@config_option
@click.argument("doc_id", type=int)
@user_errors
def doc_show(config_file: str | None, doc_id: int) -> None:
    """A document's head and its per-recipient table (sent / delivered / read / acknowledged / failed)."""
    config = load_config(config_file)

    async def work(sessions: Any) -> queries.DocumentView | None:
        async with sessions() as session:
            document = await session.get(Document, doc_id)
            if document is None:
                return None
            [view] = await queries.document_views(session, [document])
            return view

    view = run_db(config, work)
    if view is None:
        raise InklessError(f"no document {doc_id}")
    zone = config.zone

    def when(value: Any) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    document = view.document
    click.echo(f"{document.number or '(no number)'}  {document.title}")
    click.echo(f"type {document.type or '-'} · unit {document.unit_id} · sender {document.sender} · "
               f"status {document.status} · created {when(document.created_at)} · issued {when(document.issued_at)}")
    for version in view.versions:
        files = ", ".join(f"{a.filename} ({a.size} B)" for a in view.attachments.get(version.id, []))
        click.echo(f"version {version.version} · {when(version.created_at)}" + (f" · {files}" if files else ""))
    if view.approvals:
        trail = [("VERSION", "APPROVER", "DECISION", "DECIDED", "CHANNEL", "COMMENT")]
        for a in view.approvals:
            trail.append((str(a.version), a.approver, a.decision or "pending", when(a.decided_at), a.channel or "-",
                          (a.comment or "-").replace("\n", " ")))
        click.echo(format_table(trail))
    table = [("RECIPIENT", "SENT", "DELIVERED", "READ", "ACKNOWLEDGED", "FAILED")]
    for r in view.recipients:
        table.append((r.email, when(r.sent_at), when(r.delivered_at), when(r.read_at), when(r.acknowledged_at),
                      r.reason or "yes" if r.failed else "-"))
    click.echo(format_table(table))
    sent = sum(1 for r in view.recipients if r.sent_at)
    click.echo(f"{len(view.recipients)} recipients: {sent} sent, "
               f"{sum(1 for r in view.recipients if r.read_at)} read, "
               f"{sum(1 for r in view.recipients if r.acknowledged_at)} acknowledged, "
               f"{sum(1 for r in view.recipients if r.failed)} failed")


@doc.command("export")
@config_option
@click.argument("doc_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File to write (default stdout).")
@user_errors
def doc_export(config_file: str | None, doc_id: int, fmt: str, output: str | None) -> None:
    """The per-recipient table as CSV (times in the configured zone, ISO 8601)."""
    config = load_config(config_file)

    async def work(sessions: Any) -> queries.DocumentView | None:
        async with sessions() as session:
            document = await session.get(Document, doc_id)
            return (await queries.document_views(session, [document]))[0] if document else None

    view = run_db(config, work)
    if view is None:
        raise InklessError(f"no document {doc_id}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["document", "number", "email", "name", "sent_at", "delivered_at", "read_at", "acknowledged_at",
                     "failed", "reason", "comment"])

    def when(value: Any) -> str:
        return value.astimezone(config.zone).isoformat() if value else ""

    for r in view.recipients:
        writer.writerow([doc_id, view.document.number or "", r.email, r.name or "", when(r.sent_at),
                         when(r.delivered_at), when(r.read_at), when(r.acknowledged_at), "yes" if r.failed else "no",
                         r.reason or "", r.comment or ""])
    if output:
        Path(output).write_text(buffer.getvalue(), encoding="utf-8-sig")
        click.echo(f"{len(view.recipients)} recipients written to {output}")
    else:
        click.echo(buffer.getvalue(), nl=False)


@doc.command("evidence")
@config_option
@click.argument("doc_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Archive to write (default document-ID-evidence.zip).")
@user_errors
def doc_evidence(config_file: str | None, doc_id: int, output: str | None) -> None:
    """Export every decision's evidence (raw reply, authentication, token, text, verdict) as one zip."""
    config = load_config(config_file)

    async def work(sessions: Any) -> tuple[Document | None, list[tuple[Approval, Evidence]], list[AuditEntry]]:
        async with sessions() as session:
            document = await session.get(Document, doc_id)
            rows = (await session.execute(
                select(Approval, Evidence).join(Evidence, Evidence.approval_id == Approval.id)
                .where(Approval.document_id == doc_id).order_by(Evidence.id))).tuples().all()
            audit = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
            mine = [entry for entry in audit if _about_document(entry, doc_id, {a.id for a, _ in rows})]
            return document, list(rows), mine

    document, rows, audit = run_db(config, work)
    if document is None:
        raise InklessError(f"no document {doc_id}")
    path = Path(output or f"document-{doc_id}-evidence.zip")
    manifest: dict[str, str] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def put(name: str, data: bytes) -> None:
            archive.writestr(name, data)
            manifest[name] = hashlib.sha256(data).hexdigest()

        for approval, evidence in rows:
            folder = f"approval-{approval.id}-v{approval.version}-{approval.approver}"
            put(f"{folder}/reply.eml", evidence.raw)
            put(f"{folder}/evidence.json", json.dumps({
                "document": doc_id, "version": approval.version, "approver": approval.approver,
                "decision": approval.decision, "comment": approval.comment,
                "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
                "channel": approval.channel, "inbound_id": evidence.inbound_id, "token": evidence.token,
                "authentication_results": evidence.authentication_results, "stripped_text": evidence.stripped_text,
                "verdict": evidence.verdict, "sha256": evidence.sha256,
            }, ensure_ascii=False, indent=2).encode())
        put("audit.json", json.dumps([{"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                                       "subject": f"{e.subject_type}:{e.subject_id}", "detail": e.detail}
                                      for e in audit], ensure_ascii=False, indent=2).encode())
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    click.echo(f"{len(rows)} decision(s) with evidence written to {path}")


def _about_document(entry: AuditEntry, doc_id: int, approval_ids: set[int]) -> bool:
    if entry.subject_type == "document":
        return entry.subject_id == str(doc_id)
    if entry.subject_type == "approval":
        return entry.subject_id is not None and int(entry.subject_id) in approval_ids \
            or entry.detail.get("document") == doc_id
    return False


def _width(value: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Plain-text columns that stay aligned with Chinese text."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@main.command()
@config_option
@user_errors
def check(config_file: str | None) -> None:
    """Validate config and org file, try the database and the relay, show the quarantine."""
    config = load_config(config_file)
    problems: list[str] = []
    click.echo(f"config: {config_path(config_file)}: ok")
    if config.org_path is not None:
        try:
            spec = load_org(config.org_path)
            people = {m.email for unit in spec.units for m in unit.members}
            click.echo(f"org: {config.org_path}: ok ({len(spec.units)} units, {len(people)} people)")
        except InklessError as exc:
            problems.append(str(exc))
    if config.secret_key == "change-me":
        click.echo(f"warning: {config_path(config_file)}: secret_key: still 'change-me'; set a long random value "
                   "before real use", err=True)

    async def probe() -> None:
        engine = create_engine(config)
        try:
            try:
                await migrate.upgrade(engine, config.sqlite_path)
                async with session_factory(engine)() as session:
                    await session.execute(text("SELECT 1"))
                    depths = await queries.queue_depths(session)
                    quarantined = (await session.execute(
                        select(InboundMessage.id, InboundMessage.mail_from, InboundMessage.reason)
                        .where(InboundMessage.status == "quarantined")
                        .order_by(InboundMessage.id.desc()).limit(10))).all()
                click.echo(f"database: {safe_url(config.database)}: ok ({depths})")
                if quarantined:
                    click.echo(f"quarantine: {depths['inbound_quarantined']} message(s); newest:")
                    for row in quarantined:
                        click.echo(f"  #{row.id} from {row.mail_from or '<>'}: {row.reason}")
            except Exception as exc:
                problems.append(f"database: {safe_url(config.database)}: {type(exc).__name__}: {exc}")
        finally:
            await engine.dispose()
        relay = build_relay(config.relay.url, maildir=config.maildir_path, hostname=config.domain,
                            timeout=min(config.relay.timeout, 10))
        try:
            connection = await relay.connect()
            await connection.close()
            where = config.maildir_path if isinstance(relay, MaildirRelay) else safe_url(config.relay.url)
            click.echo(f"relay: {where}: ok")
        except (RelayUnavailable, OSError) as exc:
            problems.append(f"relay: {safe_url(config.relay.url)}: {exc}")
        for mailbox in config.imap:
            try:
                found = await asyncio.to_thread(probe_mailbox, mailbox)
                click.echo(f"imap {mailbox.name}: ok ({found})")
            except CONNECTION_ERRORS as exc:
                problems.append(f"imap {mailbox.name}: {type(exc).__name__}: {exc}")

    asyncio.run(probe())
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(2)


@main.group()
def reply() -> None:
    """How Inkless reads replies."""


@reply.command("explain")
@click.argument("file", type=click.File("rb"))
def reply_explain(file: io.BufferedReader) -> None:
    """How a saved reply (FILE.eml, or - for standard input) would be read as a sign-off decision.

    Prints the reply's own text as extracted, the clause read and the rule that decided; the
    last line is `decision: approve`, `decision: reject` or `decision: unclear`. Needs no config.
    """
    try:
        verdict = read_reply(file.read())
    except Quarantine as exc:
        fail(f"{file.name}: not a message Inkless would read: {exc.reason}")
        return
    click.echo("text:")
    for line in (verdict.text or "(none)").splitlines():
        click.echo(f"  {line}")
    click.echo(f"line: {verdict.first_line or '(none)'}")
    click.echo(f"clause: {verdict.clause or '(none)'}")
    click.echo(f"rule: {verdict.rule}")
    if verdict.comment:
        click.echo(f"comment: {verdict.comment}")
    click.echo(f"decision: {verdict.decision or 'unclear'}")
