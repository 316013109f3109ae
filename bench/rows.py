"""The machine-readable side of a benchmark's results, which bench/summary.py turns into bench/results.md.

Each benchmark writes, next to its markdown file, a JSON file with the same name
(bench/results/fanout.md → bench/results/fanout.json) holding a list of rows, one per figure:

    {"benchmark": "fanout", "scenario": "SQLite, 1 process", "figure": "copies/s end to end",
     "value": 725.0, "unit": "copies/s", "baseline": "raw smtp-source -d -s 1", "baseline_value": 11009.0,
     "ratio": 0.066, "target": "≥ 1,000/s", "met": false, "source": "src at 9f3c66c (…)",
     "when": "2026-11-27T09:30:00+00:00", "command": ".venv/bin/python bench/fanout.py"}

`ratio` is the benchmark's own ratio (value ÷ baseline_value); `met` is null when the figure has no
target; `source` is the measured-source string for benchmarks that record one, else null; numbers that
could not be measured are null.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

REPO = Path(__file__).resolve().parent.parent


class ResultRow(TypedDict):
    benchmark: str
    scenario: str
    figure: str
    value: float | None
    unit: str
    baseline: str | None
    baseline_value: float | None
    ratio: float | None
    target: str
    met: bool | None
    source: str | None
    when: str
    command: str


def row(benchmark: str, scenario: str, figure: str, value: float, unit: str, baseline: str | None = None,
        baseline_value: float | None = None, ratio: float | None = None, target: str = "",
        met: bool | None = None, source: str | None = None) -> ResultRow:
    """One figure; `when` and `command` are filled in by write_rows."""
    return ResultRow(benchmark=benchmark, scenario=scenario, figure=figure, value=finite(value), unit=unit,
               baseline=baseline, baseline_value=finite(baseline_value), ratio=finite(ratio), target=target,
               met=met, source=source, when="", command="")


def finite(value: float | None) -> float | None:
    """JSON has no NaN: a figure that could not be measured is null."""
    return None if value is None or not math.isfinite(value) else float(value)


def command() -> str:
    """The command line that ran this benchmark, with the interpreter relative to the repository."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO):
        python = python.relative_to(REPO)
    return shlex.join([str(python), *sys.argv])


def write_rows(markdown: Path, rows: list[ResultRow]) -> Path:
    """Write `rows` to the JSON file next to `markdown` (same name, .json); returns its path."""
    when, run = datetime.now(timezone.utc).isoformat(timespec="seconds"), command()
    path = markdown.with_suffix(".json")
    path.write_text(json.dumps([{**r, "when": when, "command": run} for r in rows], ensure_ascii=False, indent=1)
                    + "\n", encoding="utf-8")
    return path
