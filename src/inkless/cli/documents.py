"""Documents on the command line: list, show, export, sign-off evidence; how a reply is read."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import click

from inkless.cli.common import config_option, fail, format_table, run_db, user_errors
from inkless.config import load_config
from inkless.errors import InklessError, Quarantine
from inkless.handlers.issue import co_issuers_of
from inkless.mail.verdict import read_reply
from inkless.storage import queries
from inkless.storage.audit import audit_log
from inkless.storage.models import Approval, AuditEntry, Document, Evidence


@click.group()
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
            return list(await queries.receipt_counts(session, limit=limit))

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

    async def work(sessions: Any) -> tuple[queries.DocumentView, list[Document]] | None:
        async with sessions() as session:
            document = await session.get(Document, doc_id)
            if document is None:
                return None
            [view] = await queries.document_views(session, [document])
            return view, await queries.children_of(session, [doc_id])

    found = run_db(config, work)
    if found is None:
        raise InklessError(f"no document {doc_id}")
    view, children = found
    zone = config.zone

    def when(value: Any) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    document = view.document
    click.echo(f"{document.number or '(no number)'}  {document.title}")
    click.echo(f"type {document.type or '-'} · unit {document.unit_id} · sender {document.sender} · "
               f"status {document.status} · created {when(document.created_at)} · issued {when(document.issued_at)}")
    elements = [f"urgency {document.urgency}" if document.urgency else "",
                f"signer {document.signer}" if document.signer else "",
                f"issue date {document.issue_date.isoformat()}" if document.issue_date else "",
                f"co-issuers {', '.join(co_issuers_of(document))}" if document.co_issuers else ""]
    if any(elements):
        click.echo(" · ".join(element for element in elements if element))
    if document.direction == "incoming":
        click.echo(f"received from {document.source_organ} · source number {document.source_number or '-'} · "
                   f"incoming number {document.incoming_number}")
    if document.parent_id is not None:
        click.echo(f"forwards document {document.parent_id}")
    for version in view.versions:
        files = ", ".join(f"{a.filename} ({a.size} B)" for a in view.attachments.get(version.id, []))
        click.echo(f"version {version.version} · {when(version.created_at)}" + (f" · {files}" if files else ""))
    if view.approvals:
        trail = [("VERSION", "UNIT", "APPROVER", "DECISION", "DECIDED", "CHANNEL", "COMMENT")]
        for a in view.approvals:
            approver = f"{a.decided_by} for {a.approver}" if a.decided_by else a.approver
            trail.append((str(a.version), a.unit_id or document.unit_id, approver, a.decision or "pending",
                          when(a.decided_at), a.channel or "-", (a.comment or "-").replace("\n", " ")))
        click.echo(format_table(trail))
    if view.units:
        forwarded = {child.unit_id: child for child in children}
        units = [("UNIT", "ROLE", "SIGNED", "BY", "FORWARDED")]
        for u in view.units:
            child = forwarded.get(u.unit_id)
            units.append((u.unit_id, u.role, when(u.acknowledged_at), u.acknowledged_by or "-",
                           f"{child.id} {child.number or child.status}" if child else "-"))
        click.echo(format_table(units))
        click.echo(f"{len(view.units)} units: {sum(1 for u in view.units if u.acknowledged_at)} signed for, "
                   f"{len(forwarded)} forwarded")
    table = [("RECIPIENT", "COPY", "SENT", "DELIVERED", "READ", "ACKNOWLEDGED", "FAILED")]
    for r in view.recipients:
        table.append((r.email, f"{r.copy_number:06d}" if r.copy_number else "-", when(r.sent_at), when(r.delivered_at), when(r.read_at), when(r.acknowledged_at),
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
    """The per-unit and per-recipient tables as CSV (times in the configured zone, ISO 8601): a row per
    addressed unit first (no email; `role` main or copy, `by` who signed for it), then a row per
    recipient (`unit`: the units they sign for)."""
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
                     "failed", "reason", "comment", "unit", "role", "by"])

    def when(value: Any) -> str:
        return value.astimezone(config.zone).isoformat() if value else ""

    number = view.document.number or view.document.incoming_number or ""
    # The addressed units first (签收 per unit: email empty, `by` who signed for it), then the people.
    for u in view.units:
        writer.writerow([doc_id, number, "", "", "", "", "", when(u.acknowledged_at), "", "", "", u.unit_id, u.role,
                         u.acknowledged_by or ""])
    for r in view.recipients:
        writer.writerow([doc_id, number, r.email, r.name or "", when(r.sent_at),
                         when(r.delivered_at), when(r.read_at), when(r.acknowledged_at), "yes" if r.failed else "no",
                         r.reason or "", r.comment or "", (r.signs_for or "").replace("\n", " "), "", ""])
    if output:
        Path(output).write_text(buffer.getvalue(), encoding="utf-8-sig")
        click.echo(f"{len(view.units)} units and {len(view.recipients)} recipients written to {output}")
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
            rows = await queries.decision_evidence(session, doc_id)
            audit = await audit_log(session)
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
                "document": doc_id, "version": approval.version, "approver": approval.decided_by or approval.approver,
                "on_behalf_of": approval.approver if approval.decided_by else None, "unit": approval.unit_id,
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


@click.group()
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
