"""The org file: validation errors name the key; import is idempotent and follows changes."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.config import build_config
from inkless.errors import OrgError
from inkless.org import OrgSpec, load_org
from inkless.storage import migrate
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.models import Membership, Person, Unit
from inkless.storage.org import import_org, load_directory
from tests.conftest import TEST_ORG

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def write_org(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(TEST_ORG)
    units = data["units"]
    if change == "unknown parent":
        units[1]["parent"] = "nowhere"
    elif change == "approver not a member":
        units[3]["approvers"] = ["ghost@test.gov"]
    elif change == "duplicate id":
        units[2]["id"] = "finance"
    elif change == "reserved id":
        units[2]["id"] = "all"
    elif change == "bad email":
        units[0]["members"][0]["email"] = "not-an-address"
    elif change == "bad role":
        units[0]["members"][0]["roles"] = ["boss"]
    elif change == "cycle":
        units[0]["parent"] = "finance"
    elif change == "external sender not an address":
        data["external"] = [{"id": "city", "name": "市政府", "senders": ["city gov"]}]
    elif change == "external domain malformed":
        data["external"] = [{"id": "city", "name": "市政府", "senders": ["@city"]}]
    elif change == "external id is a unit":
        data["external"] = [{"id": "finance", "name": "市财政局", "senders": ["@city.example"]}]
    elif change == "external sender is a member":
        data["external"] = [{"id": "city", "name": "市政府", "senders": ["Clerk@test.gov"]}]
    elif change == "wecom userid malformed":
        units[0]["members"][0]["wecom"] = "wang wenshu"
    elif change == "wecom userid twice":
        units[0]["members"][0]["wecom"] = "WangWS"
        units[1]["members"][0]["wecom"] = "wangws"
    elif change == "two wecom userids":
        units[1]["members"][2]["wecom"] = "shared1"
        units[2]["members"][2]["wecom"] = "shared2"
    elif change == "external without senders":
        data["external"] = [{"id": "city", "name": "市政府", "senders": []}]
    return data


@pytest.mark.parametrize(("change", "message"), [
    ("unknown parent", "units[1].parent: no unit 'nowhere'"),
    ("approver not a member", "units[3].approvers: 'ghost@test.gov' is not a member of any unit"),
    ("duplicate id", "units[2].id: duplicate unit id 'finance'"),
    ("reserved id", "units[2].id: 'all' is reserved for Inkless's own addresses (got 'all')"),
    ("bad email", "units[0].members[0].email: not an email address (got 'not-an-address')"),
    ("bad role", "units[0].members[0].roles[0]: Input should be 'clerk', 'leader', 'admin' or 'receiver' (got 'boss')"),
    ("cycle", "units: parent cycle through 'office'"),
    ("external sender not an address", "external[0].senders: 'city gov' is neither an email address "
                                       "nor '@domain'"),
    ("external domain malformed", "external[0].senders: '@city' is not '@' and a domain"),
    ("external id is a unit", "external[0].id: 'finance' is already a unit or an outside organ"),
    ("external sender is a member", "external[0].senders: 'clerk@test.gov' is a member of the organisation"),
    ("external without senders", "external[0].senders: List should have at least 1 item"),
    ("wecom userid malformed", "units[0].members[0].wecom: a WeCom userid is 1–64 letters, digits and _ - @ ."),
    ("wecom userid twice", "units[1].members[0].wecom: 'wangws' is already clerk@test.gov's"),
    ("two wecom userids", "units[2].members[2].wecom: shared@test.gov is listed with two WeCom userids "
                          "('shared1', 'shared2')"),
])
def test_org_mistakes_name_the_key(tmp_path: Path, change: str, message: str) -> None:
    path = write_org(tmp_path, broken(change))
    with pytest.raises(OrgError) as caught:
        load_org(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


@pytest.fixture
async def sessions(database_url: str, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    config = build_config({"database": database_url}, source="test", base_dir=tmp_path)
    engine = create_engine(config)
    await migrate.upgrade(engine, config.sqlite_path)
    yield session_factory(engine)
    await engine.dispose()


async def run_import(sessions: async_sessionmaker[AsyncSession], data: dict[str, Any]) -> None:
    async with sessions() as session, session.begin():
        await import_org(session, OrgSpec.model_validate(data), now=NOW)


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Unit)) or 0,
                await session.scalar(select(func.count()).select_from(Person)) or 0,
                await session.scalar(select(func.count()).select_from(Membership)) or 0)


async def test_import_is_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    await run_import(sessions, TEST_ORG)
    first = await counts(sessions)
    await run_import(sessions, TEST_ORG)
    assert await counts(sessions) == first == (4, 12, 13)


async def test_reimport_updates_names_roles_members(sessions: async_sessionmaker[AsyncSession]) -> None:
    await run_import(sessions, TEST_ORG)
    changed = copy.deepcopy(TEST_ORG)
    finance = changed["units"][1]
    finance["name"] = "县财政局"
    finance["members"] = [m for m in finance["members"] if m["email"] != "fin-staff@test.gov"]
    finance["members"][0]["roles"] = ["clerk", "leader"]
    finance["members"].append({"email": "new@test.gov", "name": "新同事"})
    changed["units"][0]["members"][0]["name"] = "王秘书"
    await run_import(sessions, changed)

    async with sessions() as session:
        directory = await load_directory(session)
    assert directory.units["finance"].name == "县财政局"
    assert directory.person("fin-staff@test.gov") is None  # departed: no longer a member
    assert directory.person("new@test.gov") is not None
    clerk = directory.person("fin-clerk@test.gov")
    assert clerk is not None and clerk.roles == frozenset({"clerk", "leader"})
    office_clerk = directory.person("clerk@test.gov")
    assert office_clerk is not None and office_clerk.name == "王秘书"
    assert [p.email for p in directory.leaders("finance")] == ["fin-clerk@test.gov"]
    assert await counts(sessions) == (4, 13, 13)  # the departed person's row stays for history


async def test_outside_organs_and_receivers_follow_the_file(sessions: async_sessionmaker[AsyncSession]) -> None:
    data = copy.deepcopy(TEST_ORG)
    data["units"][2]["incoming_prefix"] = "教收"
    data["units"][2]["members"][1]["roles"] = ["receiver"]  # edu-staff signs for 教育局
    data["external"] = [{"id": "city", "name": "市政府", "senders": ["@City.Example", "wenshu@prov.example"]},
                        {"id": "prov", "name": "省教育厅", "senders": ["@prov.example"]}]
    await run_import(sessions, data)
    await run_import(sessions, data)
    async with sessions() as session:
        directory = await load_directory(session)
    assert [(o.id, o.senders) for o in directory.externals] == [
        ("city", ("@city.example", "wenshu@prov.example")), ("prov", ("@prov.example",))]
    organ = directory.external_organ
    assert (organ("x@CITY.example").id, organ("wenshu@prov.example").id, organ("y@prov.example").id) == (  # type: ignore[union-attr]
        "city", "city", "prov")
    for stranger in ("x@sub.city.example", "x@city.example.evil", "x@xcity.example", "clerk@test.gov"):
        assert organ(stranger) is None, stranger
    assert (directory.units["edu"].incoming, directory.units["finance"].incoming) == ("教收", "延财发收")
    assert [p.email for p in directory.signers("edu")] == ["edu-staff@test.gov"]
    # Without receivers, the clerks and leaders sign for a unit.
    assert [p.email for p in directory.signers("finance")] == ["fin-clerk@test.gov"]
    del data["external"][1]
    await run_import(sessions, data)
    async with sessions() as session:
        directory = await load_directory(session)
    assert [o.id for o in directory.externals] == ["city"] and directory.external_organ("y@prov.example") is None


async def test_directory_home_unit_and_subtree(sessions: async_sessionmaker[AsyncSession]) -> None:
    await run_import(sessions, TEST_ORG)
    async with sessions() as session:
        directory = await load_directory(session)
    shared = directory.person("shared@test.gov")
    assert shared is not None and (shared.home_unit, shared.units) == ("finance", ("finance", "edu"))
    assert [p.email for p in directory.members("office")] == [
        "clerk@test.gov", "boss@test.gov", "admin@test.gov", "fin-clerk@test.gov", "fin-staff@test.gov",
        "shared@test.gov", "edu-clerk@test.gov", "edu-staff@test.gov"]
    assert directory.may_send_to_all("clerk@test.gov") and not directory.may_send_to_all("fin-staff@test.gov")
