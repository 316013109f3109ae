"""A document's forwarding cascade (SPEC §2.8) as nested nodes, drawn by the tracking page
and returned by GET /api/v1/documents/{id}/tree alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inkless.directory import Directory
from inkless.storage.models import Document
from inkless.storage.queries import Cascade


@dataclass
class UnitRow:
    """A recipient unit: its name, main or copy, when and by whom it signed, what it forwarded."""

    unit_id: str
    name: str
    role: str
    acknowledged_at: datetime | None
    by: str | None
    forwarded: Document | None


@dataclass
class Node:
    """One document of the cascade; `visible` is False for a draft the reader may not see (it
    shows its unit, status and units only)."""

    document: Document
    unit_name: str
    visible: bool
    units: list[UnitRow]
    children: list[Node]

    @property
    def signed(self) -> int:
        return sum(1 for unit in self.units if unit.acknowledged_at is not None)


def tree(found: Cascade, directory: Directory) -> Node:
    """The cascade as nested nodes, each level's forwards under the document they forward."""
    children: dict[int, list[Document]] = {}
    for document in found.below:
        children.setdefault(document.parent_id or 0, []).append(document)

    def node(document: Document) -> Node:
        own = children.get(document.id, [])
        forwarded = {child.unit_id: child for child in own}
        rows = [UnitRow(u.unit_id, directory.unit_name(u.unit_id), u.role, u.acknowledged_at, u.acknowledged_by,
                        forwarded.get(u.unit_id)) for u in found.units.get(document.id, [])]
        visible = found.visible is None or document.id in found.visible
        return Node(document, directory.unit_name(document.unit_id), visible, rows, [node(child) for child in own])

    return node(found.root)
