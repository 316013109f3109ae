"""Search over documents: how long a query takes with the index Inkless uses (SQLite FTS5
trigram; PostgreSQL pg_trgm GIN) against a plain scan of the same texts, for a three-or-more
character query (which the trigram indexes serve) and a two-character one (which they cannot:
it scans either way). Prints the figures; no target (SPEC §8 names none), the README says why
the trigram indexes were chosen.

    python bench/search.py [--documents 20000] [--postgres postgresql+asyncpg://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from common import drop_scratch, pg_urls, scratch_database

WORDS = ["关于", "做好", "年度", "工作", "总结", "预算", "决算", "安全", "生产", "森林", "防火", "供暖", "保障", "通知",
         "请示", "报告", "各乡镇", "人民政府", "县直", "单位", "落实", "检查", "整改", "资金", "项目", "审批", "政务", "公开"]
QUERIES = {"4 chars (indexed)": "绩效自评", "number (indexed)": "延财发〔2026〕17号", "2 chars (scan)": "决算"}
ROUNDS = 20


def texts(count: int) -> list[str]:
    chooser = random.Random(7)
    documents = []
    for n in range(count):
        body = "".join(chooser.choice(WORDS) for _ in range(400))
        extra = "部门预算绩效自评" if n % 97 == 0 else ""
        documents.append(f"延财发〔2026〕{n}号\n{body}{extra}")
    return documents


def timed(db: sqlite3.Connection, sql: str, argument: str, rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        db.execute(sql, (argument,)).fetchall()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def sqlite_figures(documents: list[str], folder: Path) -> dict[str, tuple[float, float]]:
    db = sqlite3.connect(folder / "search.db")
    db.execute("CREATE TABLE document_texts (document_id INTEGER PRIMARY KEY, content TEXT)")
    db.execute("CREATE VIRTUAL TABLE document_fts USING fts5(content, tokenize='trigram')")
    db.executemany("INSERT INTO document_texts VALUES (?, ?)", enumerate(documents, 1))
    db.executemany("INSERT INTO document_fts (rowid, content) VALUES (?, ?)", enumerate(documents, 1))
    db.commit()
    figures = {}
    for name, words in QUERIES.items():
        pattern = f"%{words}%"
        scan_sql = "SELECT document_id FROM document_texts WHERE content LIKE ?"
        # What Inkless asks (storage/queries/search.py): the trigram table from three characters on.
        ours_sql = "SELECT rowid FROM document_fts WHERE content LIKE ?" if len(words) >= 3 else scan_sql
        found = {row[0] for row in db.execute(ours_sql, (pattern,))}
        assert found == {row[0] for row in db.execute(scan_sql, (pattern,))}, name
        ours = timed(db, ours_sql, pattern)
        scan = timed(db, scan_sql, pattern)
        figures[name] = (ours, scan)
    db.close()
    return figures


async def pg_figures(documents: list[str], postgres: str, folder: Path) -> dict[str, tuple[float, float]]:
    _, name = await scratch_database(postgres, folder)
    assert name is not None
    conn = await asyncpg.connect(pg_urls(postgres, name)[0])
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table in ("indexed", "plain"):
            await conn.execute(f"CREATE TABLE {table} (document_id int PRIMARY KEY, content text)")
            await conn.copy_records_to_table(table, records=list(enumerate(documents, 1)))
        await conn.execute("CREATE INDEX ON indexed USING gin (content gin_trgm_ops)")
        await conn.execute("ANALYZE")
        figures = {}
        for label, words in QUERIES.items():
            pattern = f"%{words}%"
            samples: dict[str, list[float]] = {"indexed": [], "plain": []}
            # What Inkless asks: ILIKE under the index from three characters on, strpos (a scan) below.
            ours = ("SELECT document_id FROM indexed WHERE content ILIKE $1", pattern) if len(words) >= 3 else \
                ("SELECT document_id FROM indexed WHERE strpos(lower(content), $1) > 0", words.lower())
            for _ in range(ROUNDS):
                for table, (sql, argument) in (("indexed", ours),
                                               ("plain", ("SELECT document_id FROM plain WHERE content ILIKE $1",
                                                          pattern))):
                    started = time.perf_counter()
                    await conn.fetch(sql, argument)
                    samples[table].append(time.perf_counter() - started)
            figures[label] = (statistics.median(samples["indexed"]) * 1000, statistics.median(samples["plain"]) * 1000)
        return figures
    finally:
        await conn.close()
        await drop_scratch(postgres, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    documents = texts(args.documents)
    size = sum(len(d) for d in documents)
    print(f"search: {args.documents} documents, {size / 1e6:.1f} M characters; median of {ROUNDS} queries, ms")
    with tempfile.TemporaryDirectory() as folder:
        rows = {"SQLite (FTS5 trigram vs LIKE scan)": sqlite_figures(documents, Path(folder))}
        if args.postgres:
            rows["PostgreSQL (pg_trgm GIN vs ILIKE scan)"] = asyncio.run(
                pg_figures(documents, args.postgres, Path(folder)))
    for backend, figures in rows.items():
        print(backend)
        for label, (indexed, scan) in figures.items():
            print(f"  {label:20} inkless {indexed:8.2f}   scan {scan:8.2f}   scan/inkless {scan / indexed:6.1f}x")


if __name__ == "__main__":
    main()
