"""The organisation file (org.yaml): units, members, roles and approvers, validated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from inkless.addresses import fold_address
from inkless.config import describe_validation_error, read_yaml_mapping
from inkless.errors import OrgError

Role = Literal["clerk", "leader", "admin", "receiver"]

# Local parts Inkless uses itself; a unit may not take them.
RESERVED_LOCAL_PARTS = frozenset({"all", "reply", "bounce", "receipt", "postmaster", "abuse", "mailer-daemon", "noreply"})
UNIT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
WECOM_USERID = re.compile(r"^[A-Za-z0-9_@.-]{1,64}$")
DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberSpec(_Strict):
    email: str
    name: str | None = None
    roles: list[Role] = Field(default_factory=list)
    # Members who may decide this member's sign-offs on their behalf (a leader's secretary).
    delegates: list[str] = Field(default_factory=list)
    # Their WeCom (企业微信) userid, as the WeCom admin console shows it.
    wecom: str | None = None

    @field_validator("wecom")
    @classmethod
    def _check_wecom(cls, value: str | None) -> str | None:
        if value is not None and not WECOM_USERID.match(value):
            raise ValueError("a WeCom userid is 1–64 letters, digits and _ - @ .")
        return value

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        value = fold_address(value)
        if not EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("delegates")
    @classmethod
    def _check_delegates(cls, value: list[str]) -> list[str]:
        return [fold_address(address) for address in value]


class UnitSpec(_Strict):
    id: str
    name: str
    parent: str | None = None
    doc_prefix: str | None = None
    incoming_prefix: str | None = None
    approvers: list[str] = Field(default_factory=list)
    members: list[MemberSpec] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not UNIT_ID.match(value):
            raise ValueError("unit id must be lower-case letters, digits, '.', '_' or '-' (it is a mail address)")
        if value in RESERVED_LOCAL_PARTS:
            raise ValueError(f"'{value}' is reserved for Inkless's own addresses")
        return value

    @field_validator("approvers")
    @classmethod
    def _check_approvers(cls, value: list[str]) -> list[str]:
        return [fold_address(address) for address in value]

    @property
    def prefix(self) -> str:
        return self.doc_prefix or self.name

    @property
    def incoming(self) -> str:
        """The prefix of incoming numbers (收文编号): set, or the document prefix + 收."""
        return self.incoming_prefix or self.prefix + "收"


class ExternalSpec(_Strict):
    """An outside organ that may send documents in (SPEC §2.8): its senders are addresses
    (`wenshu@city.example`) or whole domains (`@beijing.gov.cn`)."""

    id: str
    name: str
    senders: list[str] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not UNIT_ID.match(value):
            raise ValueError("external id must be lower-case letters, digits, '.', '_' or '-'")
        return value

    @field_validator("senders")
    @classmethod
    def _check_senders(cls, value: list[str]) -> list[str]:
        senders = []
        for sender in value:
            folded = fold_address(sender.strip())
            if folded.startswith("@"):
                if not DOMAIN.match(folded[1:]):
                    raise ValueError(f"'{sender}' is not '@' and a domain")
            elif not EMAIL.match(folded):
                raise ValueError(f"'{sender}' is neither an email address nor '@domain'")
            senders.append(folded)
        return senders


class OrgSpec(_Strict):
    units: list[UnitSpec]
    external: list[ExternalSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> OrgSpec:
        ids = [unit.id for unit in self.units]
        seen: set[str] = set()
        for index, unit_id in enumerate(ids):
            if unit_id in seen:
                raise ValueError(f"units[{index}].id: duplicate unit id '{unit_id}'")
            seen.add(unit_id)
        members = {member.email for unit in self.units for member in unit.members}
        wecom: dict[str, str] = {}
        wecom_of: dict[str, str] = {}
        for index, unit in enumerate(self.units):
            for position, member in enumerate(unit.members):
                if member.wecom is None:
                    continue
                where = f"units[{index}].members[{position}].wecom"
                owner = wecom.setdefault(member.wecom.lower(), member.email)
                if owner != member.email:
                    raise ValueError(f"{where}: '{member.wecom}' is already {owner}'s")
                if wecom_of.setdefault(member.email, member.wecom) != member.wecom:
                    raise ValueError(f"{where}: {member.email} is listed with two WeCom userids "
                                     f"('{wecom_of[member.email]}', '{member.wecom}')")
        for index, unit in enumerate(self.units):
            if unit.parent is not None and unit.parent not in seen:
                raise ValueError(f"units[{index}].parent: no unit '{unit.parent}'")
            for approver in unit.approvers:
                if approver not in members:
                    raise ValueError(f"units[{index}].approvers: '{approver}' is not a member of any unit")
            for position, member in enumerate(unit.members):
                for delegate in member.delegates:
                    if delegate not in members:
                        raise ValueError(f"units[{index}].members[{position}].delegates: '{delegate}' is not a "
                                         "member of any unit")
                    if delegate == member.email:
                        raise ValueError(f"units[{index}].members[{position}].delegates: a member is not their own "
                                         "delegate")
            emails = [member.email for member in unit.members]
            if len(emails) != len(set(emails)):
                raise ValueError(f"units[{index}].members: a person is listed twice in unit '{unit.id}'")
        organs: set[str] = set()
        for index, organ in enumerate(self.external):
            if organ.id in seen or organ.id in organs:
                raise ValueError(f"external[{index}].id: '{organ.id}' is already a unit or an outside organ")
            organs.add(organ.id)
            for sender in organ.senders:
                if sender in members:
                    raise ValueError(f"external[{index}].senders: '{sender}' is a member of the organisation")
        parents = {unit.id: unit.parent for unit in self.units}
        for unit_id in ids:
            chain, current = {unit_id}, parents[unit_id]
            while current is not None:
                if current in chain:
                    raise ValueError(f"units: parent cycle through '{unit_id}'")
                chain.add(current)
                current = parents[current]
        return self


def load_org(path: Path) -> OrgSpec:
    """Read and validate an org file, raising OrgError with one line naming the file and key."""
    data = read_yaml_mapping(path, OrgError, missing="file not found", not_mapping="must be a mapping with a 'units' list")
    try:
        return OrgSpec.model_validate(data)
    except ValidationError as exc:
        raise OrgError(describe_validation_error(exc, str(path))) from None
