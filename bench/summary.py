#!/usr/bin/env python3
"""Summary of one `make bench` run: every figure of bench/results/*.json in one table, bench/results.md.

Each benchmark writes bench/results/<name>.md and, next to it, <name>.json with one row per figure
(bench/rows.py). This script reads them and writes bench/results.md (committed, unlike
bench/results/): the machine line, a table with every figure, its baseline and ratio and target,
and one line per benchmark with its detailed report and the command that produced it.

It refuses (exit 1, nothing written) when an expected result file is missing, or was written
before --since, the start of the run (`date +%s` in the Makefile), so the table always comes from
one run. Other *.json files in bench/results/ are included when they are from this run and
otherwise left out with a note.

usage: .venv/bin/python bench/summary.py --since EPOCH [--expect ingest approval ...] [--output bench/results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from common import loadavg
from rows import ResultRow

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
# What `make bench` runs, in this order: ingest and fanout measure PostgreSQL in the same run as SQLite.
EXPECTED = ["ingest", "approval", "approval-pg", "feed", "feed-pg", "fanout", "process", "memory", "memory-pg", "bigmessage",
            "bigmessage-pg", "replies"]
FIELDS = set(ResultRow.__required_keys__)


@dataclass
class Result:
    name: str
    markdown: Path
    rows: list[ResultRow]


def load(name: str, since: float) -> tuple[Result | None, str | None]:
    """The result of benchmark file `name`, or why it cannot be used."""
    path, markdown = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    if not path.exists():
        return None, f"{path.relative_to(REPO)} is missing"
    try:
        rows: list[ResultRow] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return None, f"{path.relative_to(REPO)} is not JSON: {exc}"
    if not isinstance(rows, list) or not rows:
        return None, f"{path.relative_to(REPO)} holds no rows"
    for row in rows:
        if not isinstance(row, dict) or FIELDS - set(row):
            return None, f"{path.relative_to(REPO)}: a row is not an object with the fields {sorted(FIELDS)}"
        try:
            when = datetime.fromisoformat(row["when"]).timestamp()
        except (TypeError, ValueError):
            return None, f"{path.relative_to(REPO)}: a row's `when` is not a timestamp: {row['when']!r}"
        if when < since:
            started = datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds")
            return None, f"{path.relative_to(REPO)} is from {row['when']}, before the run started ({started})"
    if not markdown.exists():
        return None, f"{markdown.relative_to(REPO)} is missing"
    if markdown.stat().st_mtime < since:
        return None, f"{markdown.relative_to(REPO)} is older than the run"
    return Result(name, markdown, rows), None


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3f}×"


def verdict(met: bool | None) -> str:
    return "" if met is None else "met" if met else "**NOT met**"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def git_state() -> str:
    """HEAD and whether the tree had uncommitted changes (apart from the summary itself)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else "?"
    changed = [line for line in git("status", "--porcelain").splitlines()
               if line[3:] != "bench/results.md"]
    return f"git HEAD {git('rev-parse', '--short', 'HEAD')}" + (
        f", dirty ({len(changed)} uncommitted or untracked files)" if changed else ", clean")


def summary(results: list[Result], since: float, output: Path, expected: list[str]) -> str:
    left_out = [name for name in EXPECTED if name not in expected]
    run = "one `make bench` run" if not left_out else (
        "one run of some of `make bench`'s benchmarks (not in this run: " + ", ".join(left_out) + ")")
    lines = [
        "# Benchmark results",
        "",
        f"From {run} on this machine (see [README.md](README.md) for what each benchmark"
        " measures). The machine is shared: compare the ratios of one run, not absolute numbers across runs.",
        "",
        f"{os.cpu_count()} CPUs · load average (1/5/15 min) {loadavg()} at the end · Python"
        f" {platform.python_version()} · run {utc(since)} to {utc(datetime.now(timezone.utc).timestamp())}"
        f" · {git_state()}",
        "",
        "| benchmark | scenario | figure | Inkless | baseline | baseline value | ratio | target | met |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for result in results:
        for row in result.rows:
            baseline_value = "" if row["baseline"] is None else f"{number(row['baseline_value'])} {row['unit']}"
            lines.append(
                f"| {row['benchmark']} | {cell(row['scenario'])} | {cell(row['figure'])} |"
                f" {number(row['value'])} {row['unit']} | {cell(row['baseline'] or '')} | {baseline_value} |"
                f" {ratio(row['ratio'])} | {cell(row['target'])} | {verdict(row['met'])} |")
    lines += ["", "Detailed reports (in bench/results/, not committed) and the commands that produced them:", ""]
    for result in results:
        link = Path(os.path.relpath(result.markdown, output.parent)).as_posix()
        commands = dict.fromkeys(row["command"] for row in result.rows)
        sources = dict.fromkeys(row["source"] for row in result.rows if row["source"])
        line = f"- [{result.markdown.name}]({link}): " + ", ".join(f"`{command}`" for command in commands)
        if sources:
            line += "; measured code: " + "; ".join(sources)
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=float, required=True,
                        help="the run's start, seconds since the epoch: older result files are refused")
    parser.add_argument("--expect", nargs="+", default=EXPECTED, metavar="NAME",
                        help=f"result files that must be there (default: {' '.join(EXPECTED)})")
    parser.add_argument("--output", default=str(HERE / "results.md"), help="default bench/results.md")
    args = parser.parse_args()

    results, problems = [], []
    for name in args.expect:
        result, problem = load(name, args.since)
        if result is not None:
            results.append(result)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise SystemExit("bench/summary.py: not writing a summary, the results are not all from this run:\n  "
                         + "\n  ".join(problems))
    for path in sorted(RESULTS.glob("*.json")):
        if path.stem in args.expect:
            continue
        result, problem = load(path.stem, args.since)
        if result is not None:
            results.append(result)
        else:
            print(f"left out: {problem}", file=sys.stderr)

    output = Path(args.output).resolve()
    text = summary(results, args.since, output, args.expect)
    output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
