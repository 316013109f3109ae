"""`inkless reply explain FILE` (and `-` for standard input) on one corpus reply per client style.

The command needs no configuration: it runs from an empty temporary directory with no INKLESS_*
variables. It shows the extracted text, the clause and the rule, and its last line is the decision.
Starting `inkless` takes seconds, so the runs for all styles happen at once, one per CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from inkless.mail.parse import parse_message
from inkless.mail.reply_text import reply_text
from tests.replies.test_corpus import CORPUS, LABELS, Labelled, load_labels

INKLESS = Path(sys.executable).parent / "inkless"


def one_per_style() -> list[Labelled]:
    """For each style, a plain (non-adversarial) reply; the labels take turns across the styles."""
    rows = load_labels()
    styles = list(dict.fromkeys(row.style for row in rows))
    chosen = []
    for index, style in enumerate(styles):
        wanted = LABELS[index % len(LABELS)]
        candidates = [row for row in rows if row.style == style and not row.adversarial]
        chosen.append(next((row for row in candidates if row.label == wanted), candidates[0]))
    return chosen


CHOSEN = one_per_style()


@dataclass(frozen=True)
class Run:
    """One `inkless reply explain` run: how the reply was given, and what came back."""

    from_stdin: bool
    folder: Path
    returncode: int
    stdout: str
    stderr: str


def explain(row: Labelled, folder: Path, from_stdin: bool) -> Run:
    path = CORPUS / row.file
    environment = {name: value for name, value in os.environ.items() if not name.startswith("INKLESS_")}
    result = subprocess.run([str(INKLESS), "reply", "explain", "-" if from_stdin else str(path)],
                            input=path.read_bytes() if from_stdin else None, capture_output=True, cwd=folder,
                            env=environment, timeout=300)
    return Run(from_stdin, folder, result.returncode, result.stdout.decode("utf-8"),
               result.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every chosen reply explained, half of them given as a file, half on standard input."""
    jobs = [(row, tmp_path_factory.mktemp(row.style), index % 2 == 1) for index, row in enumerate(CHOSEN)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip((row.file for row, _, _ in jobs), pool.map(lambda job: explain(*job), jobs)))


@pytest.mark.parametrize("row", CHOSEN, ids=lambda row: row.file)
def test_explain_prints_the_text_and_ends_with_the_decision(row: Labelled, runs: dict[str, Run]) -> None:
    run = runs[row.file]
    assert run.returncode == 0, run.stderr
    assert list(run.folder.iterdir()) == [], "explain must not write anything"
    lines = run.stdout.splitlines()
    assert "text:" in lines
    message = parse_message((CORPUS / row.file).read_bytes())
    extracted = reply_text(message.text, message.html)
    assert extracted.strip(), f"{row.file}: pick a reply with text of its own"
    shown = {line.strip() for line in lines}
    assert [line for line in extracted.splitlines() if line.strip() and line.strip() not in shown] == []
    assert any(line.startswith("clause:") for line in lines)
    assert any(line.startswith("rule:") for line in lines)
    assert lines[-1] == f"decision: {row.label}"


def test_both_ways_of_giving_the_reply_are_covered(runs: dict[str, Run]) -> None:
    assert {run.from_stdin for run in runs.values()} == {True, False}
