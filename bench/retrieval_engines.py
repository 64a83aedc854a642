"""Candidate retrieval: our in-memory index against SQLite FTS5, on the same stored tokens.

    .venv/bin/python bench/retrieval_engines.py --database sqlite-file.db --lexicon lexicon.json

Why this exists: the search issue asks for the retrieval engine to be chosen by measurement
(an inverted index of our own, or a well-kept engine such as SQLite FTS5). Both sides here
answer the same question — which offers carry any of the query's keywords — from the same
title tokens stored at import. FTS5 gets its best case: a plain synchronous sqlite3
connection (no async hop), an index built in a separate file, rowids only. Prints build
time and per-query p50/p99 for each, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nlu
from bench.common import pct, real_queries
from catalog_store import db
from catalog_store.search import SearchIndex

BUYER = [
    "连衣裙 一件代发",
    "纯棉t恤 定制logo",
    "义乌 发夹",
    "iphone15 手机壳",
    "保温杯",
    "收纳袋",
    "oversize t恤",
    "毛绒玩具",
    "双肩包 ins风",
    "运动鞋 老爹鞋",
]


def fts_query(keywords: list[str]) -> str:
    return " OR ".join('"' + k.replace('"', '""') + '"' for k in keywords)


async def main(database: Path, lexicon: Path, n_real: int) -> None:
    url = f"sqlite+aiosqlite:///{database}"
    parser = nlu.configure(lexicon)
    engine = db.create_engine(url)
    started = time.perf_counter()
    index = await SearchIndex.build(engine, parser)
    ours_build = time.perf_counter() - started
    await engine.dispose()

    real = real_queries(n_real, seed=11)
    keyword_sets = [k for k in (parser.parse(q).keywords for q in BUYER * 10 + real) if k]

    ours, ours_hits = [], 0
    for keywords in keyword_sets:
        t = time.perf_counter()
        lists = [index.postings[k] for k in keywords if k in index.postings]
        found = index._union(lists) if lists else []
        ours.append((time.perf_counter() - t) * 1000)
        ours_hits += len(found)

    with tempfile.TemporaryDirectory() as tmp:
        con = sqlite3.connect(database)
        con.execute(f"ATTACH '{Path(tmp) / 'fts.db'}' AS f")
        started = time.perf_counter()
        con.execute("CREATE VIRTUAL TABLE f.t USING fts5(tokens, tokenize='unicode61')")
        con.execute(
            "INSERT INTO f.t(rowid, tokens) SELECT rowid, title_tokens FROM offers"
            " WHERE active AND title_tokens IS NOT NULL"
        )
        con.commit()
        fts_build = time.perf_counter() - started
        fts, fts_hits = [], 0
        for keywords in keyword_sets:
            t = time.perf_counter()
            rows = con.execute("SELECT rowid FROM f.t WHERE t MATCH ?", (fts_query(keywords),))
            fts_hits += len(rows.fetchall())
            fts.append((time.perf_counter() - t) * 1000)
        con.close()

    print(f"{len(index):,} offers, {len(keyword_sets):,} queries with keywords")
    print(
        f"ours  build {ours_build:6.1f} s (the whole search index)  p50 {pct(ours, 50):7.3f} ms"
        f"  p99 {pct(ours, 99):7.3f} ms  candidates {ours_hits:,}"
    )
    print(
        f"fts5  build {fts_build:6.1f} s (tokens only)             p50 {pct(fts, 50):7.3f} ms"
        f"  p99 {pct(fts, 99):7.3f} ms  candidates {fts_hits:,}"
    )
    print(
        f"fts5 / ours: p50 x{pct(fts, 50) / max(pct(ours, 50), 1e-6):,.0f}, "
        f"p99 x{pct(fts, 99) / max(pct(ours, 99), 1e-6):,.0f}"
    )


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--database", type=Path, default=Path("data/sourcing.db"))
    cli.add_argument("--lexicon", type=Path, default=Path("data/lexicon/catalog.json"))
    cli.add_argument("--real", type=int, default=2000)
    args = cli.parse_args()
    asyncio.run(main(args.database, args.lexicon, args.real))
