#!/usr/bin/env python3
"""Write the labelled reply corpus: tests/replies/corpus/<client>-NN.eml and labels.tsv.

Each case of cases/ becomes one full reply, built by one client style of clients/ to one
approval request of originals.py. Cases go to the client styles that fit them (English text to
clients with an English interface, signatures to clients that mark them, interleaved parts to the
interleaved style), each to the style with the fewest replies so far. The output is deterministic:
running the script again writes the same bytes. It rewrites the folder.

labels.tsv columns: file, style, label (approve|reject|unclear), adversarial (0|1), note.

usage: .venv/bin/python tests/replies/build_corpus.py
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make `tests.replies` importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.replies.cases import ALL, APPROVE, Case
from tests.replies.clients import CLIENTS, Client, Draft
from tests.replies.originals import ASKED, PEOPLE, Request, make_request

CORPUS = Path(__file__).resolve().parent / "corpus"
LABELS = CORPUS / "labels.tsv"
COLUMNS = ("file", "style", "label", "adversarial", "note")


def candidates(case: Case) -> list[Client]:
    """The client styles this case can be written in."""
    if case.clients:
        return [client for client in CLIENTS if client.name in case.clients]
    pool = [client for client in CLIENTS if client.posting != "interleaved"]
    if case.signature:
        pool = [client for client in pool if client.marked_signature]
    if case.english:
        pool = [client for client in pool if client.english]
    return pool


def assign(cases: list[Case]) -> list[tuple[Case, Client]]:
    """Each case to the fitting client with the fewest cases so far (then the fewest of its label)."""
    counts: Counter[str] = Counter()
    by_label: Counter[tuple[str, str]] = Counter()
    order = {client.name: index for index, client in enumerate(CLIENTS)}
    assigned = []
    # The most constrained cases first; within them the labels take turns.
    rank = {id(case): sum(other.label == case.label for other in cases[:index]) for index, case in enumerate(cases)}
    for case in sorted(cases, key=lambda case: (len(candidates(case)), rank[id(case)])):
        # Fewest replies first, then fewest of this label, so every style gets all three labels.
        client = min(candidates(case), key=lambda client: (counts[client.name], by_label[client.name, case.label],
                                                           order[client.name]))
        counts[client.name] += 1
        by_label[client.name, case.label] += 1
        assigned.append((case, client))
    return sorted(assigned, key=lambda pair: order[pair[1].name])


def request_for(index: int, case: Case, client: Client) -> Request:
    """The approval request this reply answers, sent to one of the client's usual approvers."""
    people = [i for i in client.people if not (case.earlier and i == 1)] or [0]
    return make_request(index, PEOPLE[people[index % len(people)]], english=case.english, earlier=case.earlier)


def adversarial(case: Case, client: Client) -> tuple[bool, str]:
    """Whether the reply is built to trip a reader, and its note."""
    if case.label == APPROVE or case.adversarial:
        return case.adversarial, case.note
    if client.posting in ("bottom", "interleaved"):
        return True, case.note + "; written under a quote that says 同意"
    if client.html_only:
        return True, case.note + "; HTML only, the quote below says 同意"
    return False, case.note


def build(folder: Path = CORPUS) -> list[tuple[str, str, str, str, str]]:
    """Write every reply and labels.tsv into `folder` (its old replies are removed); returns the label rows."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.eml"):
        old.unlink()
    rows = []
    per_client: Counter[str] = Counter()
    for index, (case, client) in enumerate(assign(ALL)):
        per_client[client.name] += 1
        number = per_client[client.name]
        draft = Draft(request=request_for(index, case, client), own=case.text, parts=case.parts,
                      signature=case.signature, own_html=case.own_html, english=case.english, variant=number - 1,
                      sent=ASKED + timedelta(minutes=6 + (index * 37) % 1400, seconds=(index * 13) % 60), seed=index)
        name = f"{client.name}-{number:02d}.eml"
        (folder / name).write_bytes(client.build(draft))
        tricky, note = adversarial(case, client)
        rows.append((name, client.name, case.label, "1" if tricky else "0", note))
    (folder / LABELS.name).write_text("\t".join(COLUMNS) + "\n" + "".join("\t".join(row) + "\n" for row in rows),
                                     encoding="utf-8")
    return rows


def main() -> int:
    rows = build()
    styles = Counter(row[1] for row in rows)
    labels = Counter(row[2] for row in rows)
    tricky = sum(row[3] == "1" for row in rows)
    print(f"{len(rows)} replies in {CORPUS}: {tricky} adversarial ({tricky / len(rows):.0%})")
    print("labels: " + ", ".join(f"{label} {count}" for label, count in sorted(labels.items())))
    for style, count in styles.items():
        by_label = Counter(row[2] for row in rows if row[1] == style)
        print(f"  {style:14} {count:3}  " + " ".join(f"{label} {by_label[label]}" for label in sorted(labels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
