"""Whose sign-off a document needs and who may give it: each issuing unit's chain of approvers
(联合发文: the co-issuers' chains run in parallel) and the rules every decision — by mail reply,
desk or bot — must pass, delegates included (SPEC §1 `delegates`, §2.2, §2.9)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.addresses import fold_address
from inkless.directory import PersonInfo
from inkless.handlers.issue import co_issuers_of
from inkless.office import Office
from inkless.storage.models import Approval, Document


@dataclass(frozen=True)
class Chain:
    """One unit's approvers of a document, in the order they sign off."""

    unit_id: str
    approvers: list[PersonInfo]


def chain_people(office: Office, unit_id: str, *, co_issuer: bool) -> list[str]:
    """Who signs off for a unit: its approvers; a co-issuer without approvers, its leaders (a
    unit is never named on a document without someone of it agreeing)."""
    unit = office.directory.units[unit_id]
    if unit.approvers or not co_issuer:
        return list(unit.approvers)
    return [leader.email for leader in office.directory.leaders(unit_id)]


def chains_of(document: Document, office: Office) -> list[Chain]:
    """The issuing unit's approvers, then each co-issuer's, each chain in order and without the
    sender; the issuing unit without approvers has no chain."""
    chains = []
    for unit_id in [document.unit_id, *co_issuers_of(document)]:
        if unit_id not in office.directory.units:
            continue
        people = [office.directory.person(email)
                  for email in chain_people(office, unit_id, co_issuer=unit_id != document.unit_id)
                  if email != document.sender]
        approvers = [person for person in people if person is not None]
        if approvers:
            chains.append(Chain(unit_id, approvers))
    return chains


def same_chain(approval: Approval) -> ColumnElement[bool]:
    """The approvals of the same unit's chain as this one."""
    return Approval.unit_id == approval.unit_id if approval.unit_id else Approval.unit_id.is_(None)


def acts_for(office: Office, actor: str, approval: Approval) -> bool:
    """Whether `actor` is the approval's approver or one of their delegates (the desk and the
    bot show it to them; `refusal` decides whether they may decide it now)."""
    return fold_address(actor) == fold_address(approval.approver) or \
        office.directory.delegate_of(actor, approval.approver)


async def refusal(session: AsyncSession, office: Office, actor: str, approval: Approval,
                  document: Document) -> str | None:
    """Why `actor` may not decide this approval, or None. They must be its approver or one of
    the approver's delegates; a delegate may not be the document's sender; and nobody decides
    two steps of one unit's chain of a version (a delegate of the next approver who already
    signed their own step, or one delegate of two approvers, cannot complete a chain alone)."""
    actor = fold_address(actor)
    if actor != fold_address(approval.approver):
        if not office.directory.delegate_of(actor, approval.approver):
            return f"{actor} is neither the approver nor their delegate"
        if actor == fold_address(document.sender):
            return "the sender cannot sign off their own document as a delegate"
    decided_elsewhere = await session.scalar(select(func.count()).select_from(Approval).where(
        Approval.document_id == approval.document_id, Approval.version == approval.version,
        same_chain(approval), Approval.id != approval.id, Approval.decision.is_not(None),
        or_(Approval.decided_by == actor, and_(Approval.approver == actor, Approval.decided_by.is_(None)))))
    if decided_elsewhere:
        return f"{actor} already decided another step of this chain"
    return None
