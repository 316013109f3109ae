"""The organisation as the running service sees it: an immutable, in-memory snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from inkless.addresses import fold_address

SENDER_ROLES_FOR_ALL = frozenset({"clerk", "leader", "admin"})
# Who signs for a unit (签收) when it has no receivers.
SIGNERS_WITHOUT_RECEIVERS = frozenset({"clerk", "leader"})
# Types that go up the hierarchy: they reach only the addressed unit's own members.
UPWARD_TYPES = frozenset({"请示", "报告"})


@dataclass(frozen=True)
class UnitInfo:
    """A unit: id (its address), display name, parent, document-number prefix, approvers."""

    id: str
    name: str
    parent: str | None
    doc_prefix: str
    approvers: tuple[str, ...]
    incoming_prefix: str = ""

    @property
    def incoming(self) -> str:
        """The prefix of incoming numbers (收文编号): set, or the document prefix + 收."""
        return self.incoming_prefix or self.doc_prefix + "收"


@dataclass(frozen=True)
class ExternalOrgan:
    """An outside organ that may send documents in: senders are addresses or `@domain`s."""

    id: str
    name: str
    senders: tuple[str, ...]

    def sends_as(self, address: str) -> bool:
        """Whether this address is one of the organ's, exactly or by its domain (not a subdomain)."""
        folded = fold_address(address)
        domain = "@" + folded.rpartition("@")[2]
        return folded in self.senders or domain in self.senders


@dataclass(frozen=True)
class PersonInfo:
    """A member of staff: roles over all units, units in order (the first is home)."""

    id: int
    email: str
    name: str | None
    units: tuple[str, ...]
    roles: frozenset[str] = field(default_factory=frozenset)
    unit_roles: tuple[tuple[str, frozenset[str]], ...] = ()
    # Who may decide this person's sign-offs on their behalf.
    delegates: tuple[str, ...] = ()
    # Their WeCom userid, if the org file gives one.
    wecom: str | None = None

    @property
    def home_unit(self) -> str:
        return self.units[0]

    @property
    def display(self) -> str:
        return self.name or self.email

    def roles_in(self, unit_id: str) -> frozenset[str]:
        return dict(self.unit_roles).get(unit_id, frozenset())


class Directory:
    """Look-ups the SMTP edge and the handlers need, with no database round trip."""

    def __init__(self, units: Iterable[UnitInfo], people: Iterable[PersonInfo],
                 externals: Iterable[ExternalOrgan] = ()) -> None:
        self.units = {unit.id: unit for unit in units}
        self.externals = tuple(externals)
        # Keyed by the folded address: look-ups fold ASCII case only, so a look-alike (a Kelvin
        # sign, a full-width letter) is nobody.
        self.people = {fold_address(person.email): person for person in people if person.units}
        self._by_id = {person.id: person for person in self.people.values()}
        # WeCom userids compare without case, as WeCom treats them.
        self._by_wecom = {person.wecom.lower(): person for person in self.people.values() if person.wecom}
        self._children: dict[str, list[str]] = {unit_id: [] for unit_id in self.units}
        for unit in self.units.values():
            if unit.parent in self._children:
                self._children[unit.parent].append(unit.id)
        self._members: dict[str, list[PersonInfo]] = {unit_id: [] for unit_id in self.units}
        for person in self.people.values():
            for unit_id in person.units:
                self._members[unit_id].append(person)

    def person(self, email: str) -> PersonInfo | None:
        return self.people.get(fold_address(email))

    def display(self, email: str) -> str:
        """A member's name, or the address of someone not (or no longer) in the org file."""
        person = self.person(email)
        return person.display if person else email

    def unit_name(self, unit_id: str) -> str:
        """A unit's name, or its id when it is no longer in the org file."""
        unit = self.units.get(unit_id)
        return unit.name if unit else unit_id

    def person_by_id(self, person_id: int) -> PersonInfo | None:
        return self._by_id.get(person_id)

    def person_by_wecom(self, userid: str) -> PersonInfo | None:
        """The member with this WeCom userid (from the org file), if any."""
        return self._by_wecom.get(userid.lower())

    def is_member(self, email: str) -> bool:
        return fold_address(email) in self.people

    def external_organ(self, email: str) -> ExternalOrgan | None:
        """The outside organ this address sends for (§2.8); never for a member's address.
        An exact address wins over a domain."""
        if self.is_member(email):
            return None
        folded = fold_address(email)
        exact = next((organ for organ in self.externals if folded in organ.senders), None)
        return exact or next((organ for organ in self.externals if organ.sends_as(folded)), None)

    def delegate_of(self, delegate: str, member: str) -> bool:
        """Whether `delegate` may decide `member`'s sign-offs (both members)."""
        person = self.person(member)
        return person is not None and self.is_member(delegate) and fold_address(delegate) in person.delegates

    def principals(self, delegate: str) -> list[PersonInfo]:
        """The members whose sign-offs this person may decide as their delegate."""
        folded = fold_address(delegate)
        return [person for person in self.people.values() if folded in person.delegates]

    def may_send_to_all(self, email: str) -> bool:
        person = self.person(email)
        return person is not None and bool(person.roles & SENDER_ROLES_FOR_ALL)

    def subtree(self, unit_id: str) -> list[str]:
        """The unit and all units below it, parents first."""
        result, pending = [], [unit_id]
        while pending:
            current = pending.pop(0)
            result.append(current)
            pending.extend(self._children.get(current, []))
        return result

    def ancestors(self, unit_id: str) -> list[str]:
        """The unit and the units above it, itself first: mail to any of them reaches its members."""
        result: list[str] = []
        current: str | None = unit_id
        while current is not None and current in self.units and current not in result:
            result.append(current)
            current = self.units[current].parent
        return result

    def reaching(self, person: PersonInfo) -> set[str]:
        """The unit addresses whose mail reaches this person: all@, their units and every unit above."""
        return {"all"} | {above for own in person.units for above in self.ancestors(own)}

    def members(self, unit_id: str, *, recursive: bool = True) -> list[PersonInfo]:
        """Members of a unit (and its sub-units), each person once, in org-file order."""
        seen: dict[str, PersonInfo] = {}
        for current in self.subtree(unit_id) if recursive else [unit_id]:
            for person in self._members.get(current, []):
                seen.setdefault(person.email, person)
        return list(seen.values())

    def reach(self, addresses: Iterable[str], *, without: str | None = None) -> list[PersonInfo]:
        """Everyone mail to these unit addresses (or `all`) reaches, once each, without one person."""
        return self.reach_roles(addresses, (), upward=False, without=without)

    def reach_roles(self, main: Iterable[str], copy: Iterable[str], *, upward: bool,
                    without: str | None = None) -> list[PersonInfo]:
        """Everyone a document reaches (SPEC §2): a main unit and, unless the document goes up
        (请示, 报告), its sub-units; a copied unit only its own members; all@ everyone."""
        seen: dict[str, PersonInfo] = {}
        for address, recursive in [(unit, not upward) for unit in main] + [(unit, False) for unit in copy]:
            people = self.everyone() if address == "all" else self.members(address, recursive=recursive)
            for person in people:
                if person.email != without:
                    seen.setdefault(person.email, person)
        return list(seen.values())

    def everyone(self) -> list[PersonInfo]:
        return list(self.people.values())

    def signers(self, unit_id: str) -> list[PersonInfo]:
        """Who signs for documents on the unit's behalf (签收): its receivers; if it has none,
        its clerks and leaders; if it has none of those either, any of its own members."""
        own = self._members.get(unit_id, [])
        receivers = [p for p in own if "receiver" in p.roles_in(unit_id)]
        if receivers:
            return receivers
        return [p for p in own if p.roles_in(unit_id) & SIGNERS_WITHOUT_RECEIVERS] or list(own)

    def incoming_receivers(self, unit_id: str) -> list[PersonInfo]:
        """Who gets a document received from outside (§2.8): the unit's receivers; if it has
        none, its clerks; failing those its leaders, and failing those all its own members."""
        own = self._members.get(unit_id, [])
        for role in ("receiver", "clerk", "leader"):
            found = [p for p in own if role in p.roles_in(unit_id)]
            if found:
                return found
        return list(own)

    def signs_for(self, person: PersonInfo, unit_ids: Iterable[str]) -> list[str]:
        """Which of these units the person signs for."""
        return [unit_id for unit_id in unit_ids if any(p.email == person.email for p in self.signers(unit_id))]

    def leaders(self, unit_id: str) -> list[PersonInfo]:
        return [p for p in self._members.get(unit_id, []) if "leader" in p.roles_in(unit_id)]

    def leaders_above(self, unit_id: str, *, besides: str) -> list[PersonInfo]:
        """The unit's leaders other than `besides`; failing those, the parent unit's, and so on."""
        current: str | None = unit_id
        while current is not None:
            leaders = [p for p in self.leaders(current) if p.email != besides]
            if leaders:
                return leaders
            current = self.units[current].parent
        return []
