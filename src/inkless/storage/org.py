"""Import an org file into the database (idempotent) and load the Directory from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.directory import Directory, ExternalOrgan, PersonInfo, UnitInfo
from inkless.org import OrgSpec
from inkless.storage.audit import record
from inkless.storage.models import ExternalOrgan as ExternalOrganRow
from inkless.storage.models import Membership, Person, Unit
from inkless.storage.queries import bump_calendar


async def import_org(session: AsyncSession, spec: OrgSpec, *, now: datetime, actor: str = "org-import") -> dict[str, int]:
    """Make units, people and memberships match the file: update, add, remove; never duplicate.

    People who leave every unit keep their row (history refers to them) but lose their
    memberships, so they are no longer members. Returns counts for the operator.
    """
    existing_units = {unit.id: unit for unit in (await session.scalars(select(Unit))).all()}
    file_units = {unit.id for unit in spec.units}
    for position, unit_spec in enumerate(spec.units):
        unit = existing_units.get(unit_spec.id)
        if unit is None:
            unit = Unit(id=unit_spec.id)
            session.add(unit)
        unit.name = unit_spec.name
        unit.parent_id = unit_spec.parent
        unit.doc_prefix = unit_spec.prefix
        unit.incoming_prefix = unit_spec.incoming_prefix
        unit.approvers = list(unit_spec.approvers)
        unit.position = position
    removed_units = [unit_id for unit_id in existing_units if unit_id not in file_units]
    await _import_externals(session, spec)

    people = {person.email: person for person in (await session.scalars(select(Person))).all()}
    wanted: dict[tuple[str, str], tuple[list[str], int]] = {}
    delegates: dict[str, list[str]] = {}
    wecom: dict[str, str | None] = {}
    position = 0
    for unit_spec in spec.units:
        for member in unit_spec.members:
            person = people.get(member.email)
            if person is None:
                person = Person(email=member.email, name=member.name)
                session.add(person)
                people[member.email] = person
            elif member.name:
                person.name = member.name
            wanted[(unit_spec.id, member.email)] = (sorted(set(member.roles)), position)
            delegates.setdefault(member.email, [])
            if wecom.get(member.email) is None:
                wecom[member.email] = member.wecom
            delegates[member.email] += [d for d in member.delegates if d not in delegates[member.email]]
            position += 1
    for address, row in people.items():
        if address in delegates and (row.delegates or []) != delegates[address]:
            row.delegates = delegates[address]
        if address in wecom and row.wecom != wecom[address]:
            row.wecom = wecom[address]
    await session.flush()

    memberships = {(m.unit_id, m.person_id): m for m in (await session.scalars(select(Membership))).all()}
    by_id = {person.id: person.email for person in people.values()}
    removed_members = 0
    for key, existing in memberships.items():
        email = by_id.get(key[1])
        if email is None or (key[0], email) not in wanted:
            await session.delete(existing)
            removed_members += 1
    for (unit_id, email), (roles, order) in wanted.items():
        person_id = people[email].id
        membership = memberships.get((unit_id, person_id))
        if membership is None:
            session.add(Membership(unit_id=unit_id, person_id=person_id, roles=roles, position=order))
        else:
            membership.roles = roles
            membership.position = order
    if removed_units:
        await session.execute(delete(Membership).where(Membership.unit_id.in_(removed_units)))
        await session.execute(delete(Unit).where(Unit.id.in_(removed_units)))
    counts = {"units": len(spec.units), "memberships": len(wanted), "removed_memberships": removed_members,
              "removed_units": len(removed_units)}
    record(session, now=now, actor=actor, action="org.imported", subject_type="org", subject_id=None, detail=counts)
    # Membership decides whose feed shows which unit's events.
    await bump_calendar(session, now)
    await session.flush()
    return counts


async def _import_externals(session: AsyncSession, spec: OrgSpec) -> None:
    """Outside organs match the file's `external:` list."""
    existing = {organ.id: organ for organ in (await session.scalars(select(ExternalOrganRow))).all()}
    for position, organ_spec in enumerate(spec.external):
        organ = existing.pop(organ_spec.id, None)
        if organ is None:
            organ = ExternalOrganRow(id=organ_spec.id)
            session.add(organ)
        organ.name, organ.senders, organ.position = organ_spec.name, list(organ_spec.senders), position
    for gone in existing.values():
        await session.delete(gone)


async def load_directory(session: AsyncSession) -> Directory:
    """Build the in-memory Directory from the organisation tables."""
    units = (await session.scalars(select(Unit).order_by(Unit.position))).all()
    people = {person.id: person for person in (await session.scalars(select(Person))).all()}
    rows = (await session.scalars(select(Membership).order_by(Membership.position))).all()
    unit_lists: dict[int, list[tuple[str, frozenset[str]]]] = {}
    for membership in rows:
        unit_lists.setdefault(membership.person_id, []).append((membership.unit_id, frozenset(membership.roles)))
    infos = []
    for person_id, memberships in unit_lists.items():
        person = people[person_id]
        roles = frozenset().union(*(roles for _, roles in memberships))
        infos.append(PersonInfo(id=person.id, email=person.email, name=person.name,
                                units=tuple(unit for unit, _ in memberships), roles=roles,
                                unit_roles=tuple(memberships), delegates=tuple(person.delegates or ()), wecom=person.wecom))
    externals = (await session.scalars(select(ExternalOrganRow).order_by(ExternalOrganRow.position))).all()
    return Directory(
        (UnitInfo(id=u.id, name=u.name, parent=u.parent_id, doc_prefix=u.doc_prefix, approvers=tuple(u.approvers),
                  incoming_prefix=u.incoming_prefix or "")
         for u in units),
        infos,
        (ExternalOrgan(id=e.id, name=e.name, senders=tuple(e.senders)) for e in externals),
    )
