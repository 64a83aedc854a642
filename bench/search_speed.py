"""Search speed: index build time, resident memory, per-query latency end to end.

    .venv/bin/python bench/search_speed.py --database-url sqlite+aiosqlite:////path/to/1m.db

End to end means from raw text: parse, retrieve, constrain, score, rank. The query mix is a
deterministic sample of the real Taobao queries (../shared/data/taobao-queries.tsv) plus
typical buyer queries with constraints. Beside it, in the same run, the baseline the issue
names: rapidfuzz WRatio over every title (``process.extract``), on a smaller sample since
it is slow. Prints medians, p99 and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nlu
from bench.common import pct, real_queries
from catalog_store import db
from catalog_store.lexicon_source import ensure_catalog_lexicon
from catalog_store.search import SearchIndex
from nlu.normalize import normalize

BUYER_QUERIES = [
    "连衣裙 一件代发",
    "50元以内纯棉T恤 定制logo",
    "義烏 髮夾 批發",
    "连衣群 一件带发",
    "有没有适合直播卖的爆款连衣裙 要能一件代发的",
    "iphone15 手机壳",
    "保温杯 超级工厂 100个",
    "运动鞋 晋江 40码",
    "红色连衣裙 广州 100元以内",
    "收纳袋",
    "毛绒玩具 定制logo",
    "oversize t恤 xl 黑色",
    "双肩包 20到50元",
    "耳环 一件代发 10元以内",
    "四件套 纯棉",
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(url: str, lexicon: Path, n_real: int, n_baseline: int) -> None:
    engine = db.create_engine(url)
    await db.migrate(engine)
    await ensure_catalog_lexicon(engine, lexicon)
    parser = nlu.configure(lexicon)
    before = rss_mb()
    started = time.perf_counter()
    index = await SearchIndex.build(engine, parser)
    build = time.perf_counter() - started
    await engine.dispose()
    print(
        f"offers: {len(index):,}   index build: {build:.1f} s   "
        f"resident memory: {rss_mb():,.0f} MB (index {rss_mb() - before:,.0f} MB)",
        flush=True,
    )

    real = real_queries(n_real, seed=7)
    mix = real + BUYER_QUERIES * 20
    for q in mix[:50]:  # warm caches the way a running bot has them
        index.search(q)
    times, found = [], 0
    slowest: list[tuple[float, str, int]] = []
    for q in mix:
        t = time.perf_counter()
        result = index.search(q, limit=10)
        times.append((time.perf_counter() - t) * 1000)
        found += bool(result.results)
        slowest.append((times[-1], q, result.total))
    slowest.sort(reverse=True)
    print(
        f"engine    {len(mix):>6,} queries  p50 {pct(times, 50):7.2f} ms  p99 {pct(times, 99):7.2f}"
        f" ms  max {max(times):7.2f} ms  ({found / len(mix):.0%} with results)",
        flush=True,
    )

    print("slowest: " + "; ".join(f"{ms:.1f} ms {q!r} ({n:,} offers)" for ms, q, n in slowest[:6]))

    from rapidfuzz import fuzz, process

    titles = index.titles
    sample = (BUYER_QUERIES + real)[:n_baseline]
    base_times = []
    for q in sample:
        t = time.perf_counter()
        process.extract(normalize(q), titles, scorer=fuzz.WRatio, limit=10)
        base_times.append((time.perf_counter() - t) * 1000)
    base_p50 = statistics.median(base_times)
    print(
        f"baseline  {len(sample):>6,} queries  p50 {base_p50:7.2f} ms  "
        f"p99 {pct(base_times, 99):7.2f} ms  (rapidfuzz WRatio over every title)",
        flush=True,
    )
    print(f"engine p50 is {base_p50 / pct(times, 50):,.0f}x faster than the full scan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite+aiosqlite:///data/sourcing.db")
    parser.add_argument("--lexicon", type=Path, default=Path("data/lexicon/catalog.json"))
    parser.add_argument("--real", type=int, default=5000, help="real queries in the mix")
    parser.add_argument("--baseline", type=int, default=30, help="queries for the full scan")
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.lexicon, args.real, args.baseline))


if __name__ == "__main__":
    main()
