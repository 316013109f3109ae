"""The labelled reply corpus (issue 14): no reply may approve unless its label says so, and 98 % read as labelled.

Each file of tests/replies/corpus/ is a full reply as a real client writes it (build_corpus.py makes
them; labels.tsv says what a careful reader decides). The whole reading path runs on each:
parse_message → reply_text → read_verdict.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from inkless.mail.parse import parse_message
from inkless.mail.reply_text import reply_text
from inkless.mail.verdict import read_verdict
from tests.replies.build_corpus import build

CORPUS = Path(__file__).resolve().parent / "corpus"
LABELS = ("approve", "reject", "unclear")


@dataclass(frozen=True)
class Labelled:
    """One row of labels.tsv."""

    file: str
    style: str
    label: str
    adversarial: bool
    note: str


def load_labels() -> list[Labelled]:
    with (CORPUS / "labels.tsv").open(encoding="utf-8", newline="") as handle:
        return [Labelled(row["file"], row["style"], row["label"], row["adversarial"] == "1", row["note"])
                for row in csv.DictReader(handle, delimiter="\t")]


def read(path: Path) -> tuple[str, str]:
    """(decision read, the extracted text) of one reply file."""
    message = parse_message(path.read_bytes())
    text = reply_text(message.text, message.html)
    return read_verdict(text).decision or "unclear", text


@pytest.fixture(scope="module")
def readings() -> list[tuple[Labelled, str, str]]:
    return [(row, *read(CORPUS / row.file)) for row in load_labels()]


def test_the_corpus_is_large_varied_and_adversarial() -> None:
    rows = load_labels()
    files = sorted(path.name for path in CORPUS.glob("*.eml"))
    assert files == sorted(row.file for row in rows), "labels.tsv and the .eml files disagree"
    assert len(rows) >= 300
    assert len({row.style for row in rows}) >= 11
    assert sum(row.adversarial for row in rows) >= len(rows) / 2
    assert {row.label for row in rows} == set(LABELS)
    assert all(row.note for row in rows)


def test_the_corpus_is_what_build_corpus_writes(tmp_path: Path) -> None:
    build(tmp_path)
    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_bytes() for path in CORPUS.iterdir() if path.suffix in (".eml", ".tsv")}
    stale = sorted(name for name in written.keys() | committed.keys() if written.get(name) != committed.get(name))
    assert stale == [], "run tests/replies/build_corpus.py and commit its output"


def describe(row: Labelled, decision: str, text: str) -> str:
    return f"{row.file}: labelled {row.label}, read {decision} ({row.note}); extracted text {text[:80]!r}"


def test_no_reply_approves_unless_labelled_approve(readings: list[tuple[Labelled, str, str]]) -> None:
    false_approvals = [describe(row, decision, text) for row, decision, text in readings
                       if decision == "approve" and row.label != "approve"]
    assert not false_approvals, f"{len(false_approvals)} false approvals:\n" + "\n".join(false_approvals)


def test_replies_read_as_labelled(readings: list[tuple[Labelled, str, str]]) -> None:
    misreads = [describe(row, decision, text) for row, decision, text in readings if decision != row.label]
    accuracy = 1 - len(misreads) / len(readings)
    print(f"\n{len(readings) - len(misreads)} of {len(readings)} read as labelled ({accuracy:.1%})")
    print("\n".join(misreads))
    assert accuracy >= 0.98, f"{len(misreads)} misreads ({accuracy:.1%} as labelled):\n" + "\n".join(misreads)
