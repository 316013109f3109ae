#!/usr/bin/env python3
"""Reply reading (SPEC §2.2, issue 14): the labelled corpus read as the bridge reads a sign-off reply.

One run:
  1. loads tests/replies/corpus/ (labels.tsv and every .eml, into memory);
  2. reads each reply once: parse_message → reply_text → read_verdict, and compares the decision
     with its label: accuracy (target ≥ 98 %) and false approvals (target 0);
  3. times, --rounds times (default 5, after one warm-up round), per reply and in alternation:
     the whole reading, and as baseline parse_message alone of the same bytes;
Prints p50/p95 of both per reply, their ratio, the misreads, accuracy per client style; writes
bench/results/replies.md and the same figures as rows for bench/summary.py in replies.json.

usage: .venv/bin/python bench/replies.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common import percentile, source_state
from rows import ResultRow, row, write_rows

from inkless.mail.parse import parse_message
from inkless.mail.reply_text import reply_text
from inkless.mail.verdict import read_verdict

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = REPO / "tests" / "replies" / "corpus"


@dataclass(frozen=True)
class Reply:
    """One corpus file with its label."""

    file: str
    style: str
    label: str
    adversarial: bool
    raw: bytes


def load() -> list[Reply]:
    with (CORPUS / "labels.tsv").open(encoding="utf-8", newline="") as handle:
        return [Reply(r["file"], r["style"], r["label"], r["adversarial"] == "1", (CORPUS / r["file"]).read_bytes())
                for r in csv.DictReader(handle, delimiter="\t")]


def decide(raw: bytes) -> str:
    """The whole reading of one reply, as the sign-off handler does it."""
    message = parse_message(raw)
    return read_verdict(reply_text(message.text, message.html)).decision or "unclear"


# The files that read a reply: named in the report when uncommitted.
READER = ("src/inkless/mail/parse.py", "src/inkless/mail/reply_text.py", "src/inkless/mail/verdict.py",
          "src/inkless/mail/reply_words.py")


def timings(replies: list[Reply], rounds: int) -> tuple[list[float], list[float]]:
    """(whole reading, parse only) in ms per reply, over `rounds` rounds after one warm-up round."""
    reading: list[float] = []
    parsing: list[float] = []
    clock = time.perf_counter
    for number in range(rounds + 1):
        for reply in replies:
            started = clock()
            parse_message(reply.raw)
            parsed = clock()
            decide(reply.raw)
            done = clock()
            if number:
                parsing.append((parsed - started) * 1000)
                reading.append((done - parsed) * 1000)
    return reading, parsing


def run(args: argparse.Namespace) -> tuple[str, list[ResultRow]]:
    replies = load()
    decisions = {reply.file: decide(reply.raw) for reply in replies}
    misreads = [reply for reply in replies if decisions[reply.file] != reply.label]
    false_approvals = [reply for reply in misreads if decisions[reply.file] == "approve"]
    accuracy = 100 * (1 - len(misreads) / len(replies))
    reading, parsing = timings(replies, args.rounds)
    p50, p95 = percentile(reading, 0.5), percentile(reading, 0.95)
    b50, b95 = percentile(parsing, 0.5), percentile(parsing, 0.95)
    styles = Counter(reply.style for reply in replies)
    source = source_state(READER)

    scenario = f"reply reading, {len(replies)} labelled replies, {len(styles)} client styles"
    baseline = "parse_message alone, same replies"
    figure = "ms per reply, parse + extract + read"
    rows = [
        row("replies", scenario, "read as labelled", accuracy, "%", target="≥ 98 %", met=accuracy >= 98, source=source),
        row("replies", scenario, "false approvals", len(false_approvals), "replies", target="0",
            met=not false_approvals, source=source),
        row("replies", scenario, f"p50 {figure}", p50, "ms", baseline, b50, p50 / b50, source=source),
        row("replies", scenario, f"p95 {figure}", p95, "ms", baseline, b95, p95 / b95, source=source),
    ]
    per_style = []
    for style, count in styles.items():
        right = sum(decisions[r.file] == r.label for r in replies if r.style == style)
        per_style.append(f"| {style} | {count} | {right} | {100 * right / count:.1f} % |")
    adversarial = [r for r in replies if r.adversarial]
    adversarial_right = sum(decisions[r.file] == r.label for r in adversarial)
    report = [
        f"# Reply reading ({len(replies)} labelled replies, {args.rounds} timed rounds)",
        "",
        f"Measured code: {source}.",
        "",
        "| figure | value | target |",
        "| --- | ---: | --- |",
        f"| read as labelled | {accuracy:.1f} % ({len(replies) - len(misreads)} of {len(replies)}) | ≥ 98 % |",
        f"| adversarial replies read as labelled | {adversarial_right} of {len(adversarial)} | |",
        f"| false approvals | {len(false_approvals)} | 0 |",
        f"| p50 / p95 ms per reply, parse + extract + read | {p50:.3f} / {p95:.3f} | |",
        f"| baseline: p50 / p95 ms per reply, parse_message alone | {b50:.3f} / {b95:.3f} | |",
        f"| ratio to the baseline, p50 / p95 | {p50 / b50:.2f}× / {p95 / b95:.2f}× | |",
        "",
        "| client style | replies | read as labelled | accuracy |",
        "| --- | ---: | ---: | ---: |",
        *per_style,
        "",
        f"Misreads ({len(misreads)}):" if misreads else "No misreads.",
        *(f"- {r.file}: labelled {r.label}, read {decisions[r.file]}" for r in misreads),
    ]
    return "\n".join(report), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds over the whole corpus (default 5)")
    args = parser.parse_args()
    report, rows = run(args)
    print(report)
    (HERE / "results").mkdir(exist_ok=True)
    results = HERE / "results" / "replies.md"
    results.write_text(report + "\n", encoding="utf-8")
    print(f"written to {results} and {write_rows(results, rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
